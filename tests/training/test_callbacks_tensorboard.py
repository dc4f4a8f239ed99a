"""TensorBoard: event files that TensorBoard's own reader parses, with Keras 3's tags and steps."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training import Model
from streamfit.training.callbacks import Callback, TensorBoard

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard is not installed")

SPARSE_CE = "sparse_categorical_crossentropy"


def _read(folder) -> event_accumulator.EventAccumulator:
    reader = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    reader.Reload()
    return reader


def _scalars(reader, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in reader.Scalars(tag)]


def _f32(values) -> list[float]:
    return [float(np.float32(value)) for value in values]


@pytest.fixture
def small(data):
    x, y = data
    return x[:96], y[:96]  # batches of 32: 3 steps a epoch


def _model() -> Model:
    torch.manual_seed(0)
    return Model(torch.nn.Linear(300, 3), loss=SPARSE_CE, metrics=["accuracy"], seed=0,
                 optimizer=lambda params: torch.optim.SGD(params, lr=0.1))


def test_epoch_scalars_go_to_train_and_validation_with_keras_tags(small, tmp_path):
    x, y = small
    history = _model().fit(x, y, batch_size=32, epochs=3, verbose=0,
                           validation_data=(x[:40], y[:40]), callbacks=[TensorBoard(tmp_path)])
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    assert sorted(train.Tags()["scalars"]) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert sorted(validation.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]
    h = history.history
    assert _scalars(train, "epoch_loss") == list(zip([0, 1, 2], _f32(h["loss"]), strict=True))
    assert _scalars(train, "epoch_accuracy") == list(zip([0, 1, 2], _f32(h["accuracy"]), strict=True))
    assert _scalars(train, "epoch_learning_rate") == [(epoch, _f32([0.1])[0]) for epoch in range(3)]
    assert _scalars(validation, "epoch_loss") == list(zip([0, 1, 2], _f32(h["val_loss"]), strict=True))
    assert not train.Tags()["histograms"]


class BatchLogs(Callback):
    def __init__(self):
        super().__init__()
        self.logs: list[dict] = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def test_update_freq_writes_batch_scalars_every_n_batches_at_their_position(small, tmp_path):
    x, y = small
    seen = BatchLogs()
    _model().fit(x, y, batch_size=32, epochs=2, verbose=0,
                 callbacks=[seen, TensorBoard(tmp_path, update_freq=2, histogram_freq=2)])
    train = _read(tmp_path / "train")
    assert sorted(train.Tags()["scalars"]) == ["batch_accuracy", "batch_loss", "epoch_accuracy",
                                                "epoch_learning_rate", "epoch_loss"]
    # Batches 1..6 of the run; Keras writes at each count divisible by update_freq.
    assert _scalars(train, "batch_loss") == [(step, _f32([seen.logs[step - 1]["loss"]])[0])
                                             for step in (2, 4, 6)]
    assert sorted(train.Tags()["histograms"]) == ["bias/histogram", "weight/histogram"]
    assert [event.step for event in train.Histograms("weight/histogram")] == [0]
    _model().fit(x, y, batch_size=32, epochs=1, verbose=0,
                 callbacks=[TensorBoard(tmp_path / "every", update_freq="batch")])
    assert [s for s, _ in _scalars(_read(tmp_path / "every" / "train"), "batch_loss")] == [1, 2, 3]


def test_a_resumed_run_hides_the_interrupted_runs_later_epochs(small, tmp_path):
    x, y = small

    class Crash(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("crash after the TensorBoard values of epoch 2")

    def fit(callbacks, **kwargs):
        return _model().fit(x, y, batch_size=32, epochs=3, verbose=0, checkpoint_dir=tmp_path / "c",
                            resume_from=tmp_path / "c", callbacks=callbacks, **kwargs)

    with pytest.raises(RuntimeError, match="crash"):
        fit([TensorBoard(tmp_path / "tb"), Crash()])
    history = fit([TensorBoard(tmp_path / "tb")])
    # Epoch 1 (0-based) was written twice; the resumed run's values are the ones read.
    expected = list(zip([0, 1, 2], _f32(history.history["loss"]), strict=True))
    assert _scalars(_read(tmp_path / "tb" / "train"), "epoch_loss") == expected


def test_options_keras_has_and_streamfit_does_not_write_are_errors():
    for name, value in [("write_images", True), ("profile_batch", 5), ("embeddings_freq", 1),
                        ("write_steps_per_second", True)]:
        with pytest.raises(OptionError, match=rf"^{name}=.* streamfit's TensorBoard does not write"):
            TensorBoard(**{name: value})
    for bad in ("step", 0, 1.5):
        with pytest.raises(OptionError, match=r"^update_freq=.* use 'epoch', 'batch' or a number"):
            TensorBoard(update_freq=bad)
    with pytest.raises(OptionError, match=r"^histogram_freq=-1 must be"):
        TensorBoard(histogram_freq=-1)


def test_without_tensorboard_installed_it_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(UserError, match=r"^TensorBoard needs the tensorboard package: pip install "
                                        r"'streamfit\[tensorboard\]'$"):
        TensorBoard("logs")
