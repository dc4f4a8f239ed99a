import numpy as np
import pytest
import torch

from streamfit.errors import OptionError
from streamfit.recipe import TrainConfig, train_text_classifier
from streamfit.recipe.train import balanced_class_weight
from streamfit.sources import SourceSpec


def weights(bundle):
    return torch.load(bundle / "weights.pt", weights_only=True)


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
