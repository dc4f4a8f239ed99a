"""Loading what someone else wrote: every field of a tampered bundle or saved model is one line naming it."""

import errno
import json
import os
import resource
import shutil
import time

import numpy as np
import pyarrow as pa
import pytest
import torch

import streamfit.recipe.bundle as bundle_module
from streamfit.errors import OptionError, UserError
from streamfit.models import NgramMLP
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.recipe.bundle import check_output_dir
from streamfit.sources import SourceSpec
from streamfit.training import Model, load_model


@pytest.fixture(scope="module")
def made(tmp_path_factory, write_corpus):
    """A tiny trained mlp bundle, written once for the module."""
    tmp = tmp_path_factory.mktemp("made")
    data = write_corpus(tmp / "train.csv", 200)
    config = TrainConfig(output=str(tmp / "m"), model_kind="mlp", epochs=1, batch_size=32,
                         cache=str(tmp / "cache"), verbose=0)
    train_text_classifier(SourceSpec((str(data),)), config, log=lambda line: None)
    return tmp / "m"


@pytest.fixture
def bundle(made, tmp_path):
    """A copy of the trained bundle, to tamper with."""
    return shutil.copytree(made, tmp_path / "b")


def edit(bundle, change):
    meta = json.loads((bundle / "bundle.json").read_text())
    change(meta)
    (bundle / "bundle.json").write_text(json.dumps(meta))


def refused(bundle, *parts):
    """load_bundle's error: one line, a UserError, naming each of `parts`."""
    with pytest.raises(UserError) as raised:
        load_bundle(bundle)
    message = str(raised.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message
    return message


def test_the_untampered_bundle_loads(bundle):
    assert load_bundle(bundle).predict_proba(pa.array(["great film"])).shape == (1, 2)


def test_a_huge_declared_model_fails_at_once_without_allocating(bundle):
    # As reported: 25,000,000 features allocated 3.3 GB before failing.
    original = json.loads((bundle / "bundle.json").read_text())["model"]["config"]["num_features"]
    edit(bundle, lambda meta: meta["model"]["config"].update(num_features=25_000_000))
    peak, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    refused(bundle, "bundle.json", "model.config.num_features=25000000 is not the "
            f"{original} features of features.npz")
    assert time.perf_counter() - started < 1
    # Hidden units are checked against weights.npz's headers, before any array is read.
    edit(bundle, lambda meta: meta["model"]["config"].update(num_features=original, units=10**8))
    refused(bundle, "weights.npz", "model.config implies input_layer.bias of shape [100000000], "
            "weights.npz holds [32]")
    assert time.perf_counter() - started < 1
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) * 1024 < 200e6


@pytest.mark.parametrize("field, value, named", [
    ("num_features", 1e8, "model.config.num_features=100000000.0 is not the"),
    ("layers", 1_000_000, "model.config.layers=1000000 must be an integer in [1, 1001)"),
    ("layers", 3, "model.config implies head.2.weight of shape [32, 32], weights.npz holds [1, 32]"),
    ("layers", 1, "model.config implies input_layer.bias of shape [1], weights.npz holds [32]"),
    ("units", "64", "model.config.units='64' must be an integer"),
    ("depth", 3, "model.config.depth=3 is no argument of the mlp model"),
    ("num_classes", 3, "model.config.num_classes=3 does not match the 2 names of 'labels'"),
])
def test_a_bad_model_config_is_named(bundle, field, value, named):
    edit(bundle, lambda meta: meta["model"]["config"].update({field: value}))
    started = time.perf_counter()
    refused(bundle, "bundle.json" if "implies" not in named else "weights.npz", named)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("change, named", [
    (lambda meta: meta.update(extra=1), "unknown field 'extra'"),
    (lambda meta: meta.pop("labels"), "the field 'labels' is missing"),
    (lambda meta: meta.update(labels=["a", "b", "c"]), "the 3 names of 'labels'"),
    (lambda meta: meta.update(labels=["a", "a"]), "'labels' must list two or more distinct"),
    (lambda meta: meta.update(labels="ab"), "the field 'labels' is a str"),
    (lambda meta: meta["model"].update(name="gpt"), "model.name='gpt' is unknown"),
    (lambda meta: meta["tokenizer"].update(pattern="[a-"), "tokenizer.pattern='[a-' is no regular expression"),
    (lambda meta: meta["tokenizer"].update(casefold=True), "unknown field 'tokenizer.casefold'"),
    (lambda meta: meta["tokenizer"].update(lowercase="yes"), "tokenizer.lowercase='yes' is no bool"),
    (lambda meta: meta["features"]["config"].update(top_k=-1), "features.config.top_k=-1 must be"),
    (lambda meta: meta["features"]["config"].update(colour=1), "features.config.colour=1 is no parameter"),
    (lambda meta: meta["features"].update(name="words"), "features.name='words' is an unknown"),
    (lambda meta: meta["source"].update(sheet=1), "unknown field 'source.sheet'"),
    (lambda meta: meta["source"].update(format="xlsx"), "source.format='xlsx' is unknown"),
    (lambda meta: meta["source"].update(encoding="no-such-codec"), "the field 'source'"),
    (lambda meta: meta.update(format=7), "bundle format 7 is not 1"),
    (lambda meta: meta.update(weights="weights.pkl"), "the field 'weights' is 'weights.pkl'"),
    (lambda meta: meta.update(quantized=[1]), "the field 'quantized' must be an object"),
])
def test_a_bad_field_of_bundle_json_is_named(bundle, change, named):
    edit(bundle, change)
    refused(bundle, "bundle.json", named)


def test_bundle_json_that_is_no_object_or_no_json(bundle):
    (bundle / "bundle.json").write_text("[1, 2]")
    refused(bundle, "bundle.json", "holds a list")
    (bundle / "bundle.json").write_bytes(b"\xff{")
    refused(bundle, "bundle.json", "not valid JSON")


@pytest.mark.parametrize("name", ["weights.npz", "bundle.json", "vocabulary.arrow", "features.npz"])
def test_a_file_that_is_a_link_is_refused(bundle, tmp_path, name):
    target = "/etc/passwd" if name == "weights.npz" else tmp_path / f"elsewhere-{name}"
    if name != "weights.npz":
        shutil.copy(bundle / name, target)
    (bundle / name).unlink()
    (bundle / name).symlink_to(target)
    refused(bundle, name, "symbolic link")


@pytest.mark.parametrize("name, named", [
    ("vocabulary.arrow", "not an Arrow file"), ("features.npz", "not a readable array file"),
    ("weights.npz", "not a readable array file")])
def test_a_damaged_file_is_named(bundle, name, named):
    (bundle / name).write_bytes(b"garbage" * 10)
    refused(bundle, name, named, "damaged or was tampered")


def test_a_vocabulary_of_other_columns_is_named(bundle):
    table = pa.table({"token": ["a"], "df": [1]})
    with pa.ipc.new_file(str(bundle / "vocabulary.arrow"), table.schema) as f:
        f.write_table(table)
    refused(bundle, "vocabulary.arrow", "needs the columns word (strings) and df")


def weights_of(bundle):
    with np.load(bundle / "weights.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_weights_of_other_arrays_are_named(bundle):
    state = weights_of(bundle)
    np.savez(bundle / "weights.npz", **state, spare=np.zeros(2, np.float32))
    refused(bundle, "weights.npz", "'spare'")
    np.savez(bundle / "weights.npz", **{**state, "input_layer.bag.weight": state["input_layer.bag.weight"][:10]})
    refused(bundle, "weights.npz", "model.config implies input_layer.bag.weight of shape")
    np.savez(bundle / "weights.npz", **{key: value for key, value in state.items() if key != "head.2.bias"})
    refused(bundle, "weights.npz", "implies a tensor 'head.2.bias', which weights.npz lacks")
    np.savez(bundle / "weights.npz", **state, notes=np.array(["a"], dtype=object))
    refused(bundle, "weights.npz", "notes holds pickled Python objects", "refused unread")


def test_an_array_that_declares_more_data_than_it_holds_is_refused_unread(bundle):
    # A header may claim any shape: the bytes behind it are counted before anything is allocated.
    peak, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    _rewrite_header(bundle / "weights.npz", "input_layer.bias", (4_000_000_000,))
    refused(bundle, "weights.npz", "input_layer.bias declares float32 [4000000000], which is not the 128 bytes")
    assert time.perf_counter() - started < 1
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) * 1024 < 200e6


def _rewrite_header(path, name, shape):
    """Rewrite one member of an npz with a header declaring `shape`, its data left as it was."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    stream = io.BytesIO(members[f"{name}.npy"])
    np.lib.format.read_magic(stream)
    _, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                  "fortran_order": fortran, "shape": shape})
    members[f"{name}.npy"] = header.getvalue() + stream.read()
    with zipfile.ZipFile(path, "w") as archive:
        for filename, content in members.items():
            archive.writestr(filename, content)


def test_a_truncated_weights_file_is_one_line(bundle):
    data = (bundle / "weights.npz").read_bytes()
    for cut in (100, len(data) // 2, len(data) - 10):
        (bundle / "weights.npz").write_bytes(data[:cut])
        refused(bundle, "weights.npz", "not a readable array file", "damaged or was tampered")


def test_features_that_do_not_fit_the_model_are_named(bundle):
    with np.load(bundle / "features.npz") as data:
        arrays = {key: data[key] for key in data.files}
    np.savez(bundle / "features.npz", **{**arrays, "keys": arrays["keys"][:5], "idf": arrays["idf"][:5]})
    refused(bundle, "bundle.json", "is not the 5 features of features.npz")
    np.savez(bundle / "features.npz", keys=arrays["keys"])
    refused(bundle, "features.npz", "lacks idf")


# --- load_model (Model.save's directories) ---

@pytest.fixture
def saved(tmp_path):
    model = Model(NgramMLP(num_features=20, num_classes=2, units=4), loss="binary_crossentropy", seed=1)
    model.save(tmp_path / "saved")
    return tmp_path / "saved"


def model_refused(path, *parts):
    with pytest.raises(UserError) as raised:
        load_model(path, device="cpu")
    message = str(raised.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_load_model_wraps_a_pickle_bearing_weights_file(saved):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"weights": Evil()}, saved / "weights.pt")
    model_refused(saved, "weights.pt", "pickled Python objects")


def test_load_model_checks_shapes_and_fields_before_building(saved):
    assert load_model(saved, device="cpu").module.num_features == 20
    meta = json.loads((saved / "model.json").read_text())
    meta["module"]["config"]["num_features"] = 10**9
    (saved / "model.json").write_text(json.dumps(meta))
    peak, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    model_refused(saved, "model.json", "module.config implies input_layer.bag.weight of shape [1000000000, 4]")
    assert time.perf_counter() - started < 1
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) * 1024 < 200e6
    meta["module"]["config"]["num_features"] = 20
    meta["module"]["config"]["colour"] = 1
    (saved / "model.json").write_text(json.dumps(meta))
    model_refused(saved, "model.json", "module.config")
    meta["module"]["config"].pop("colour")
    meta["extra"] = 1
    (saved / "model.json").write_text(json.dumps(meta))
    model_refused(saved, "model.json", "unknown field 'extra'")


def test_load_model_refuses_a_linked_weights_file(saved):
    (saved / "weights.pt").unlink()
    (saved / "weights.pt").symlink_to("/etc/passwd")
    model_refused(saved, "weights.pt", "symbolic link")


# --- replacing a bundle ---

def test_a_bundle_with_files_of_someone_elses_is_not_replaced(bundle):
    (bundle / "notes.txt").write_text("mine")
    with pytest.raises(OptionError) as raised:
        check_output_dir(bundle, option="output")
    assert raised.value.option == "output"
    assert "'notes.txt', which streamfit did not write" in raised.value.problem


def test_a_bundle_json_that_is_not_streamfits_is_not_replaced(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "bundle.json").write_text(json.dumps({"format": "someone-else", "model": {}}))
    with pytest.raises(OptionError, match="holds a bundle.json that is not a streamfit bundle's"):
        check_output_dir(tmp_path / "other", option="output")
    (tmp_path / "other" / "bundle.json").write_text("not json")
    with pytest.raises(OptionError, match="holds a bundle.json that is not a streamfit bundle's"):
        check_output_dir(tmp_path / "other", option="output")


def test_our_own_bundle_is_described_for_replacing(bundle):
    assert check_output_dir(bundle, option="output").startswith("mlp, ")


def _save_again(bundle):
    loaded = load_bundle(bundle)
    return bundle_module.save_bundle(
        bundle, tokenizer=loaded.tokenizer, vocabulary=loaded.vocabulary, extractor=loaded.extractor,
        module=loaded.module, model_kind=loaded.model_kind, labels=loaded.labels, source=loaded.source,
        info=loaded.info)


def test_replacing_removes_nothing_it_did_not_write(bundle):
    keep = bundle.parent / f".{bundle.name}.old"  # the name an earlier version used for the old bundle
    keep.mkdir()
    (keep / "precious.txt").write_text("mine")
    (bundle / "checkpoints").mkdir(exist_ok=True)
    (bundle / "checkpoints" / "mine.txt").write_text("mine too")
    _save_again(bundle)
    assert (keep / "precious.txt").read_text() == "mine"
    assert (bundle / "checkpoints" / "mine.txt").read_text() == "mine too"
    assert sorted(p.name for p in bundle.parent.iterdir()) == sorted(["b", f".{bundle.name}.old"])
    load_bundle(bundle)


def test_a_full_disk_is_one_line_with_the_bytes_and_the_old_bundle_stays(bundle, monkeypatch):
    before = {p.name: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}

    def full(path, state):
        with open(path, "wb") as file:
            file.write(b"x" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bundle_module, "write_weights", full)
    with pytest.raises(UserError) as raised:
        _save_again(bundle)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write the bundle {bundle}: no space left on the device (it needs about ")
    assert " bytes" in message and "nothing there was changed" in message
    assert {p.name: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["b"]  # no half-written folder


def test_the_work_folder_of_a_killed_save_is_removed_by_the_next(bundle):
    from streamfit.workspace import WORKSPACE_MARKER

    stale = bundle.parent / f".{bundle.name}.streamfit-1-0123abcd"  # its process is gone
    (stale / "new").mkdir(parents=True)
    (stale / WORKSPACE_MARKER).write_text("1\n")
    (stale / "new" / "weights.npz").write_bytes(b"half written")
    _save_again(bundle)
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["b"]
    load_bundle(bundle)


def test_loading_and_predicting_an_mlp_bundle_leaves_torch_unloaded(made):
    # torch takes about 2 s to import: a bag-model bundle loads, is checked and predicts without it.
    import subprocess
    import sys

    code = ("import sys; from streamfit.recipe.bundle import load_bundle; b = load_bundle(sys.argv[1]); "
            "b.predict(['a great film']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(made)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_checking_a_legacy_bundles_shapes_leaves_torch_compiler_stack_unloaded(made, tmp_path):
    # Initialisers on meta tensors import torch._dynamo on first use: 2.5 s of every predict start.
    import subprocess
    import sys

    legacy = as_legacy(shutil.copytree(made, tmp_path / "legacy"))
    code = ("import sys; from streamfit.recipe.bundle import load_bundle; load_bundle(sys.argv[1]); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(legacy)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- bundles written before weights.npz: weights.pt, read with torch ---

def as_legacy(bundle):
    """`bundle` turned into the form written before issue 16: weights.pt, no 'weights' field."""
    state = {key: torch.from_numpy(value) for key, value in weights_of(bundle).items()}
    torch.save(state, bundle / "weights.pt")
    (bundle / "weights.npz").unlink()
    edit(bundle, lambda meta: meta.pop("weights"))
    return bundle


def test_a_legacy_bundle_loads_and_predicts_as_before(made, bundle):
    texts = pa.array(["a great film", "boring and awful", ""])
    expected = load_bundle(made).predict_proba(texts)
    np.testing.assert_array_equal(load_bundle(as_legacy(bundle)).predict_proba(texts), expected)
    assert check_output_dir(bundle, option="output").startswith("mlp, ")  # it may be replaced
    _save_again(bundle)
    assert sorted(p.name for p in bundle.iterdir() if p.is_file()) == ["bundle.json", "features.npz",
                                                                        "vocabulary.arrow", "weights.npz"]
    np.testing.assert_array_equal(load_bundle(bundle).predict_proba(texts), expected)


def test_a_legacy_bundles_weights_are_checked_as_before(bundle):
    as_legacy(bundle)
    state = torch.load(bundle / "weights.pt", weights_only=True)
    torch.save({**state, "spare": torch.zeros(2)}, bundle / "weights.pt")
    refused(bundle, "weights.pt", "'spare'")
    state["input_layer.bag.weight"] = state["input_layer.bag.weight"][:10]
    torch.save(state, bundle / "weights.pt")
    refused(bundle, "bundle.json", "model.config implies input_layer.bag.weight of shape")
    torch.save({"a": 1}, bundle / "weights.pt")
    refused(bundle, "weights.pt", "no flat dict of named tensors")

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"weights": Evil()}, bundle / "weights.pt")
    refused(bundle, "weights.pt", "pickled Python objects")
    (bundle / "weights.pt").write_bytes(b"garbage" * 10)
    refused(bundle, "weights.pt", "not a readable tensor file")
