import pickle

import numpy as np
import pyarrow as pa
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.recipe.bundle import check_output_dir
from streamfit.sources import SourceSpec

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
    weights = bundle / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match="damaged or was tampered"):
        load_bundle(bundle)


def test_a_pickle_bearing_file_is_refused(tmp_path, write_corpus):
    bundle = train(tmp_path, write_corpus).bundle

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"weights": Evil()}, bundle / "weights.pt", pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(UserError, match="damaged or was tampered"):
        load_bundle(bundle)


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
