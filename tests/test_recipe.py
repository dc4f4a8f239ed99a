import numpy as np
import pytest
import torch

from streamfit.errors import UserError
from streamfit.recipe import TrainConfig, balanced_class_weight, train_text_classifier
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


def test_unknown_model_is_a_user_error(tmp_path, write_corpus):
    data = SourceSpec((str(write_corpus(tmp_path / "a.csv", 50)),))
    with pytest.raises(UserError, match="--model"):
        train_text_classifier(data, TrainConfig(output=str(tmp_path / "m"), model="bert", verbose=0,
                                                cache=str(tmp_path / "c")))
