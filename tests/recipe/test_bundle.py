import json
import pickle

import numpy as np
import pyarrow as pa
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.recipe.bundle import check_output_dir
from streamfit.sources import SourceSpec
from streamfit.training.tensors import to_tensors

TEXTS = pa.array(["a great and wonderful film", "boring and awful", "the plot", ""])


def train(tmp_path, write_corpus, model="mlp"):
    data = write_corpus(tmp_path / "train.csv", 300)
    config = TrainConfig(output=str(tmp_path / model), model_kind=model, epochs=2, batch_size=32,
                         cache=str(tmp_path / "cache"), verbose=0)
    return train_text_classifier(SourceSpec((str(data),)), config, log=lambda line: None)


@pytest.mark.parametrize("model", ["mlp", "fasttext", "sepcnn"])
def test_save_and_load_give_identical_predictions(tmp_path, write_corpus, model):
    result = train(tmp_path, write_corpus, model)
    first = load_bundle(result.bundle).predict_proba(TEXTS)
    again = load_bundle(result.bundle).predict_proba(TEXTS)
    assert first.shape == (4, 2)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first.sum(axis=1), 1, rtol=1e-6)


def test_a_truncated_weights_file_is_a_clear_error(tmp_path, write_corpus):
    bundle = train(tmp_path, write_corpus).bundle
    weights = bundle / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match="weights.npz: not a readable array file.*damaged or was tampered"):
        load_bundle(bundle)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_bearing_file_is_refused(tmp_path, write_corpus, capsys):
    bundle = train(tmp_path, write_corpus).bundle
    np.savez(bundle / "weights.npz", weights=np.array([Evil()], dtype=object))
    with pytest.raises(UserError, match="pickled Python objects.*damaged or was tampered"):
        load_bundle(bundle)
    assert "this must never run" not in capsys.readouterr().out


def test_a_pickle_bearing_legacy_weights_pt_is_refused(tmp_path, write_corpus, capsys):
    bundle = train(tmp_path, write_corpus).bundle
    meta = json.loads((bundle / "bundle.json").read_text())
    meta.pop("weights")  # a bundle written before weights.npz
    (bundle / "bundle.json").write_text(json.dumps(meta))
    (bundle / "weights.npz").unlink()
    torch.save({"weights": Evil()}, bundle / "weights.pt", pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(UserError, match="weights.pt.*damaged or was tampered"):
        load_bundle(bundle)
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("model", ["mlp", "fasttext"])
def test_a_new_bundle_holds_its_weights_as_plain_arrays_and_predicts_as_its_module(
        tmp_path, write_corpus, model):
    bundle = train(tmp_path, write_corpus, model).bundle
    names = sorted(p.name for p in bundle.iterdir() if p.is_file())
    assert names == ["bundle.json", "features.npz", "vocabulary.arrow", "weights.npz"]
    assert json.loads((bundle / "bundle.json").read_text())["weights"] == "weights.npz"
    loaded = load_bundle(bundle)
    with np.load(bundle / "weights.npz", allow_pickle=False) as data:
        assert list(data.files) == list(loaded.module.state_dict())
        for name, tensor in loaded.module.state_dict().items():
            assert data[name].dtype == np.float32
            np.testing.assert_array_equal(data[name], tensor.numpy())
    numpy_path = loaded.predict_proba(TEXTS)  # no torch
    with torch.no_grad():  # the torch module on the same rows, read as before issue 16
        logits = loaded.module(to_tensors(loaded.featurize(TEXTS), torch.device("cpu"), keep_sparse=True))
    p = torch.sigmoid(logits[:, 0])
    torch_path = torch.stack([1 - p, p], dim=1).numpy()
    np.testing.assert_allclose(numpy_path, torch_path, atol=1e-6)
    assert (loaded.kind, loaded.labels.names, loaded.meta["model"]["name"]) == (model, ["neg", "pos"], model)


def test_the_same_weights_make_the_same_bytes(tmp_path, write_corpus):
    from streamfit.inference.weights import write_weights

    bundle = train(tmp_path, write_corpus).bundle
    state = load_bundle(bundle).weights
    write_weights(tmp_path / "again.npz", state)
    assert (tmp_path / "again.npz").read_bytes() == (bundle / "weights.npz").read_bytes()


def test_a_directory_without_bundle_json_is_not_a_bundle(tmp_path):
    with pytest.raises(UserError, match="not a streamfit bundle"):
        load_bundle(tmp_path)


def test_a_directory_of_the_users_is_not_overwritten_and_the_argument_is_named(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    with pytest.raises(OptionError) as raised:
        check_output_dir(tmp_path / "m", option="output")
    assert raised.value.option == "output" and raised.value.value == str(tmp_path / "m")
    assert raised.value.problem == ("exists and is not a streamfit bundle (it holds 'notes.txt'); "
                                    "choose an empty or new directory")
    (tmp_path / "m" / "checkpoints").mkdir()
    (tmp_path / "m" / "notes.txt").unlink()
    check_output_dir(tmp_path / "m", option="output")  # a run's checkpoints only: fine
