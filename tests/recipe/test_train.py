import numpy as np
import pytest
import torch

from streamfit.errors import OptionError
from streamfit.recipe import TrainConfig, train_text_classifier
from streamfit.recipe.train import balanced_class_weight
from streamfit.sources import SourceSpec


def weights(bundle):
    with np.load(bundle / "weights.npz", allow_pickle=False) as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


def test_same_seed_same_weights_with_one_or_two_loader_threads(tmp_path, write_corpus):
    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 300)),))
    results = [train_text_classifier(data, TrainConfig(output=str(tmp_path / f"m{w}"), epochs=2, batch_size=32,
                                                       cache=str(tmp_path / "c"), workers=w, verbose=0))
               for w in (1, 2)]
    first, second = (weights(r.bundle) for r in results)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert results[0].history == results[1].history
    other = train_text_classifier(data, TrainConfig(output=str(tmp_path / "s1"), epochs=2, batch_size=32,
                                                    cache=str(tmp_path / "c1"), seed=1, verbose=0))
    assert not torch.equal(weights(other.bundle)["head.2.weight"], first["head.2.weight"])


def test_training_leaves_torch_threads_as_it_found_them(tmp_path, write_corpus):
    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 100)),))
    before = torch.get_num_threads()
    train_text_classifier(data, TrainConfig(output=str(tmp_path / "m"), epochs=1, verbose=0,
                                            cache=str(tmp_path / "c")))
    assert torch.get_num_threads() == before


def test_balanced_class_weight_is_inverse_frequency():
    assert balanced_class_weight(np.array([30, 10])) == {0: 40 / 60, 1: 40 / 20}




def test_a_batch_the_ranks_cannot_share_names_batch_size(tmp_path, write_corpus, monkeypatch):
    from streamfit import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 50)),))
    with pytest.raises(OptionError) as raised:
        train_text_classifier(data, TrainConfig(output=str(tmp_path / "m"), batch_size=32, verbose=0,
                                                cache=str(tmp_path / "c")))
    assert str(raised.value) == ("batch_size=32 is the global batch, split between 3 processes; "
                                 "use a multiple of 3, e.g. 30")
    assert not (tmp_path / "c").exists()


def test_an_output_that_is_a_file_names_output_before_preparing(tmp_path, write_corpus):
    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 50)),))
    (tmp_path / "m").write_text("mine")
    with pytest.raises(OptionError) as raised:
        train_text_classifier(data, TrainConfig(output=str(tmp_path / "m"), verbose=0,
                                                cache=str(tmp_path / "c")))
    assert str(raised.value) == f"output={str(tmp_path / 'm')!r} is a file; give a directory for the bundle"
    assert (tmp_path / "m").read_text() == "mine" and not (tmp_path / "c").exists()


def _resumable(tmp_path, write_corpus, **options):
    data = write_corpus(tmp_path / "a.csv", 80)
    config = dict(output=str(tmp_path / "m"), model_kind="mlp", epochs=1, batch_size=16, verbose=0,
                  checkpoint_every_steps=2, cache=str(tmp_path / "c"))
    train_text_classifier(SourceSpec((str(data),)), TrainConfig(**config), log=lambda line: None)
    write_corpus(data, 90)  # the data changed
    return SourceSpec((str(data),)), TrainConfig(**{**config, **options, "resume": True,
                                                     "cache": str(tmp_path / "c2")})


def test_resume_with_changed_data_names_resume_before_preparing(tmp_path, write_corpus, monkeypatch):
    import streamfit.recipe.train as recipe

    spec, config = _resumable(tmp_path, write_corpus)
    monkeypatch.setattr(recipe, "start_prepare", lambda *a, **k: pytest.fail("prepared"))
    with pytest.raises(OptionError) as raised:
        train_text_classifier(spec, config, log=lambda line: None)
    assert raised.value.option == "resume"
    assert str(raised.value).startswith(f"resume=True cannot continue from {tmp_path / 'm'}/checkpoints/")
    assert f"the file {spec.paths[0]} changed (size or modification time)" in str(raised.value)
    assert not (tmp_path / "c2").exists()


def test_what_only_fit_can_compare_is_refused_with_resume_too(tmp_path, write_corpus, monkeypatch):
    import streamfit.recipe.train as recipe

    spec, config = _resumable(tmp_path, write_corpus)
    monkeypatch.setattr(recipe, "check_resume", lambda *a, **k: None)  # as if the data looked the same
    with pytest.raises(OptionError) as raised:
        train_text_classifier(spec, config, log=lambda line: None)
    assert raised.value.option == "resume" and "checkpoint_dir" not in str(raised.value)
    assert "cannot continue from" in str(raised.value) and "\n" not in str(raised.value)


def test_old_checkpoints_are_removed_but_files_of_others_beside_them_stay(tmp_path, write_corpus):
    spec, config = _resumable(tmp_path, write_corpus)
    (tmp_path / "m" / "checkpoints" / "notes.txt").write_text("mine")
    config = TrainConfig(**{**config.__dict__, "resume": False})
    train_text_classifier(spec, config, log=lambda line: None)
    names = sorted(p.name for p in (tmp_path / "m" / "checkpoints").iterdir())
    assert "notes.txt" in names and all(n == "notes.txt" or n.startswith("ckpt-") for n in names)


def test_a_full_disk_while_checkpointing_names_output_and_the_bytes(tmp_path, write_corpus, monkeypatch):
    import errno

    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 50)),))

    def full(obj, file, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OptionError) as raised:
        train_text_classifier(data, TrainConfig(output=str(tmp_path / "m"), epochs=1, verbose=0,
                                                cache=str(tmp_path / "c")), log=lambda line: None)
    assert raised.value.option == "output"
    assert raised.value.problem.startswith(f"holds its checkpoints in {tmp_path / 'm' / 'checkpoints'}, "
                                           "which cannot take the checkpoint ckpt-000001-e0002-s000000.json "
                                           "(No space left on device): it needs about ")
    assert not (tmp_path / "m" / "bundle.json").exists()


def test_a_rank_that_finds_the_cache_damaged_says_so_not_that_it_is_unshared(tmp_path, write_corpus):
    from streamfit.prepare.cache import CacheDamaged
    from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare
    from streamfit.recipe.train import _open_prepared_by_rank_zero

    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 200)),))
    dataset = load_or_prepare(data, PrepareOptions(), tmp_path / "c")
    (tmp_path / "c" / "train.arrow").write_bytes(b"not arrow")
    config = TrainConfig(output=str(tmp_path / "m"), cache=str(tmp_path / "c"))
    with pytest.raises(CacheDamaged, match="train.arrow"):
        _open_prepared_by_rank_zero(config, str(tmp_path / "c"), dataset.manifest["key"], False)


def test_resume_with_other_label_options_is_refused_naming_them(tmp_path):
    data = tmp_path / "a.ft"
    data.write_text("".join(f"__label__{'ab'[i % 2]} __label__c word{i % 2} filler\n" for i in range(60)))
    config = dict(output=str(tmp_path / "m"), model_kind="mlp", epochs=1, batch_size=16, verbose=0,
                  checkpoint_every_steps=2, cache=str(tmp_path / "c"), multi_label=True)
    train_text_classifier(SourceSpec((str(data),)), TrainConfig(**config), log=lambda line: None)
    for changed in ({"multi_label": False}, {"threshold_per_label": True}):
        again = TrainConfig(**{**config, **changed, "resume": True})
        if "threshold_per_label" in changed:  # tuned after training: the checkpoint still fits
            train_text_classifier(SourceSpec((str(data),)), again, log=lambda line: None)
            continue
        with pytest.raises(OptionError) as raised:
            train_text_classifier(SourceSpec((str(data),)), again, log=lambda line: None)
        assert raised.value.option == "resume" and "multi_label" in str(raised.value)
