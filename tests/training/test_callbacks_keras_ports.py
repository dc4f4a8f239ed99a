"""Keras 3's own callback tests, ported, run side by side with real Keras on scripted logs.

Each case drives a streamfit callback and the Keras 3 callback of the same
name through the same hooks with the same logs (`drive`), and compares what
they do: the epoch training stops at and the weights restored, the learning
rates, the CSV bytes, which checkpoints are written, and what they print.
The cases come from keras/src/callbacks/*_test.py (early stopping, reduce-LR,
CSV logger, model checkpoint, learning-rate scheduler) and a few more
sequences and options each.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import torch

from streamfit.errors import OptionError
from streamfit.training import callbacks as ours
from streamfit.training.optimizers import learning_rate

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"  # read once, at import; its default is TensorFlow
keras = pytest.importorskip("keras", reason="keras is not installed")
if keras.backend.backend() != "torch":
    pytest.skip(f"keras was imported with the {keras.backend.backend()} backend",
                allow_module_level=True)


class OurModel:
    """What streamfit's callbacks use of a `Model`: `module`, `optimizer`, `stop_training`, `save`.

    Its one weight is set to the epoch's index, so restored weights name their epoch.
    """

    def __init__(self, lr: float = 0.1):
        self.module = torch.nn.Linear(1, 1, bias=False)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=lr)
        self.stop_training = False
        self.saved: list[str] = []

    def set_weight_to_epoch(self, epoch: int) -> None:
        with torch.no_grad():
            self.module.weight.fill_(epoch)

    @property
    def weight(self) -> float:
        return self.module.weight.item()

    def save(self, path: str) -> None:
        self.saved.append(path)


class KerasDummy:
    """Keras' own test double (early_stopping_test.DummyModel), which also records saves."""

    def __init__(self):
        self.stop_training = False
        self.weights = -1
        self.saved: list[str] = []

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights

    def set_weight_to_epoch(self, epoch):
        self.weights = epoch

    @property
    def weight(self) -> float:
        return float(self.weights)

    def save(self, filepath, overwrite=True):
        self.saved.append(filepath)

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(filepath)


def keras_model(lr: float = 0.1):
    """A real Keras model with an SGD optimizer, for the callbacks that set its learning rate."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return model


def keras_lr(model) -> float:
    return float(model.optimizer.learning_rate)


def drive(callback, model, epochs: list[dict], batches: list[list[dict]] | None = None,
          rate=None, stop_at: int | None = None) -> list:
    """Run `callback` through the hooks of a fit over the scripted `epochs` logs.

    Args:
        batches: per epoch, the logs of each training batch (None: no batch hooks).
        rate: `rate(model)`, the learning rate, recorded after each epoch.
        stop_at: another callback asks to stop at the end of this epoch.

    Returns:
        Per epoch run, the learning rate (with `rate`) or the epoch index.
    """
    callback.set_model(model)
    callback.set_params({"epochs": len(epochs), "steps": len(batches[0]) if batches else 1,
                         "verbose": 0})
    seen = []
    callback.on_train_begin()
    for epoch, logs in enumerate(epochs):
        model.set_weight_to_epoch(epoch) if hasattr(model, "set_weight_to_epoch") else None
        callback.on_epoch_begin(epoch)
        for batch, batch_logs in enumerate(batches[epoch] if batches else []):
            callback.on_train_batch_begin(batch)
            callback.on_train_batch_end(batch, dict(batch_logs))
        callback.on_epoch_end(epoch, dict(logs))
        seen.append(rate(model) if rate else epoch)
        if epoch == stop_at:
            model.stop_training = True
        if model.stop_training:
            break
    callback.on_train_end()
    return seen


def both(make, epochs, capsys, **kwargs):
    """Drive `make(library)` of Keras and of streamfit; return both models, runs and outputs."""
    theirs, mine = KerasDummy(), OurModel()
    keras_callback, our_callback = make(keras.callbacks), make(ours)
    keras_run = drive(keras_callback, theirs, epochs, **kwargs)
    keras_out = capsys.readouterr().out
    our_run = drive(our_callback, mine, epochs, **kwargs)
    our_out = capsys.readouterr().out
    return (theirs, keras_callback, keras_run, keras_out), (mine, our_callback, our_run, our_out)


# ---- early_stopping_test.py ------------------------------------------------------------------

PATIENCE_LOSSES = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]  # test_early_stopping_patience

EARLY_STOPPING_CASES = [
    *[(PATIENCE_LOSSES, {"monitor": "loss", "patience": p}) for p in (0, 1, 2, 3)],
    # test_early_stopping_final_weights_when_restoring_model_weights
    ([0.2, 0.15, 0.1, 0.11, 0.12], {"patience": 2, "restore_best_weights": True}),
    ([0.9, 0.8, 0.7, 0.71, 0.72, 0.73], {"patience": 5, "baseline": 0.5,
                                          "restore_best_weights": True}),
    # test_early_stopping_with_start_from_epoch, on scripted values
    (PATIENCE_LOSSES, {"monitor": "loss", "patience": 3, "start_from_epoch": 2}),
    (PATIENCE_LOSSES, {"monitor": "loss", "patience": 0, "start_from_epoch": 2}),
    ([0.1, 5.0, 4.0, 3.0, 3.5, 3.6, 3.7], {"patience": 1, "start_from_epoch": 2,
                                           "restore_best_weights": True}),
    # min_delta, mode, baseline met and not met
    ([1.0, 0.97, 0.95, 0.9, 0.89, 0.88, 0.8, 0.79], {"patience": 1, "min_delta": 0.03}),
    ([1.0, 0.97, 0.95, 0.9, 0.89, 0.88, 0.8, 0.79], {"patience": 2, "min_delta": -0.03}),
    ([0.5, 0.6, 0.6, 0.7, 0.65, 0.66, 0.64], {"monitor": "val_accuracy", "mode": "max",
                                              "patience": 1, "restore_best_weights": True}),
    ([0.5, 0.6, 0.62, 0.61, 0.6, 0.59, 0.58], {"monitor": "val_accuracy", "mode": "max",
                                               "patience": 2, "baseline": 0.61}),
    ([0.5, 0.6, 0.62, 0.61, 0.6, 0.59, 0.58], {"monitor": "val_accuracy", "mode": "max",
                                               "patience": 2, "baseline": 0.7,
                                               "restore_best_weights": True}),
    ([3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0], {"patience": 2, "verbose": 1}),
]


@pytest.mark.parametrize(("values", "options"), EARLY_STOPPING_CASES)
def test_early_stopping_stops_and_restores_as_keras(values, options, capsys):
    monitor = options.get("monitor", "val_loss")
    epochs = [{monitor: value} for value in values]
    (theirs, keras_cb, keras_run, keras_out), (mine, our_cb, our_run, our_out) = both(
        lambda lib: lib.EarlyStopping(**options), epochs, capsys)
    assert our_run == keras_run  # the epochs run
    assert (our_cb.stopped_epoch, our_cb.best_epoch, our_cb.wait) == (
        keras_cb.stopped_epoch, keras_cb.best_epoch, keras_cb.wait)
    assert mine.weight == theirs.weight  # the restored epoch's weights, or the last epoch's
    assert our_out == keras_out


def test_early_stopping_restores_the_best_when_another_callback_stops(capsys):
    epochs = [{"val_loss": value} for value in [0.9, 0.8, 0.7, 0.71, 0.72, 0.73]]
    (theirs, _, keras_run, _), (mine, _, our_run, _) = both(
        lambda lib: lib.EarlyStopping(patience=5, baseline=0.5, restore_best_weights=True),
        epochs, capsys, stop_at=3)
    assert our_run == keras_run == [0, 1, 2, 3] and mine.weight == theirs.weight == 2


def test_early_stopping_state_resets_across_fit_calls():
    stopper = ours.EarlyStopping(monitor="loss", patience=3)
    stopper.set_model(OurModel())
    stopper.on_train_begin()
    stopper.best, stopper.wait, stopper.stopped_epoch, stopper.best_epoch = 0.1, 3, 5, 5
    stopper.best_weights = {"weight": torch.zeros(1)}
    stopper.on_train_begin()
    assert (stopper.best, stopper.wait, stopper.stopped_epoch, stopper.best_epoch,
            stopper.best_weights) == (None, 0, 0, 0, None)


@pytest.fixture(scope="module")
def keras_with_metrics():
    """test_early_stopping's model: Keras decides mode='auto' from its metric objects."""
    import numpy as np

    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="relu")])
    model.compile(loss="mae", optimizer="adam", metrics=[
        "mse", "acc", "accuracy", "hinge", keras.metrics.F1Score(name="f1_score"),
        keras.metrics.AUC(name="auc"), keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"), "mae", "binary_crossentropy"])
    rng = np.random.default_rng(0)
    model.fit(rng.random((10, 5)), rng.random((10, 1)), validation_data=(
        rng.random((10, 5)), rng.random((10, 1))), epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("monitor", [
    "val_mse", "val_loss", "loss", "acc", "val_accuracy", "hinge", "f1_score", "val_auc",
    "precision", "recall", "mae", "binary_crossentropy"])
def test_mode_auto_picks_the_direction_keras_picks(keras_with_metrics, monitor):
    theirs = keras.callbacks.EarlyStopping(monitor=monitor)
    theirs.set_model(keras_with_metrics)
    theirs._set_monitor_op()
    assert ours.EarlyStopping(monitor=monitor).maximize is (theirs.monitor_op is keras.ops.greater)


def test_mode_auto_refuses_what_keras_refuses(keras_with_metrics):
    theirs = keras.callbacks.EarlyStopping(monitor="unknown")
    theirs.set_model(keras_with_metrics)
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        theirs._set_monitor_op()
    with pytest.raises(OptionError, match=r"^monitor='unknown' is not a loss or a metric"):
        ours.EarlyStopping(monitor="unknown")


def test_an_unknown_mode_is_an_error_where_keras_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'up' is unknown, fallback to auto mode"):
        keras.callbacks.EarlyStopping(mode="up")
    with pytest.raises(OptionError, match=r"^mode='up' is not a mode"):  # deliberate: no guessing
        ours.EarlyStopping(mode="up")


# ---- reduce_lr_on_plateau_test.py ------------------------------------------------------------

PLATEAU = [1.0, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.85, 0.7, 0.7, 0.7]

REDUCE_LR_CASES = [
    # test_reduces_lr_with_model_fit, test_honors_min_lr, test_cooldown (min_delta makes
    # every epoch a plateau)
    ([0.5, 0.4], {"patience": 1, "factor": 0.1, "min_delta": 100}),
    ([0.5, 0.4, 0.3, 0.2], {"patience": 1, "factor": 0.1, "min_delta": 10, "min_lr": 0.005}),
    ([0.5, 0.4, 0.3, 0.2], {"patience": 1, "factor": 0.1, "min_delta": 100, "cooldown": 2}),
    (PLATEAU, {"patience": 2, "factor": 0.5}),
    (PLATEAU, {"patience": 1, "factor": 0.5, "cooldown": 1, "min_lr": 0.02}),
    (PLATEAU, {"patience": 1, "factor": 0.2, "min_delta": 0.06}),
    (PLATEAU, {"patience": 3, "factor": 0.5, "cooldown": 2, "min_delta": 0.0}),
    ([0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.65, 0.7], {"monitor": "val_accuracy", "mode": "max",
                                                 "patience": 1, "factor": 0.5}),
    (PLATEAU, {"patience": 1, "factor": 0.5, "verbose": 1}),
]


@pytest.mark.parametrize(("values", "options"), REDUCE_LR_CASES)
def test_reduce_lr_on_plateau_sets_the_learning_rates_keras_sets(values, options, capsys):
    monitor = options.get("monitor", "val_loss")
    epochs = [{monitor: value} for value in values]
    keras_rates = drive(keras.callbacks.ReduceLROnPlateau(monitor=monitor, **{
        k: v for k, v in options.items() if k != "monitor"}), keras_model(0.1), epochs, rate=keras_lr)
    keras_out = capsys.readouterr().out
    our_rates = drive(ours.ReduceLROnPlateau(**options), OurModel(0.1), epochs,
                      rate=lambda model: learning_rate(model.optimizer))
    our_out = capsys.readouterr().out
    assert our_rates == pytest.approx(keras_rates, rel=1e-6)  # Keras holds it in float32
    assert _words(our_out) == _words(keras_out)
    assert _numbers(our_out) == pytest.approx(_numbers(keras_out), rel=1e-6)


def test_reduce_lr_on_plateau_state_resets_across_fit_calls():
    reduce = ours.ReduceLROnPlateau(patience=1, factor=0.1, monitor="loss", min_delta=0, cooldown=2)
    reduce.set_model(OurModel())
    reduce.on_train_begin()
    reduce.best, reduce.wait, reduce.cooldown_counter = 0.5, 3, 2
    reduce.on_train_begin()
    assert (reduce.best, reduce.wait, reduce.cooldown_counter) == (None, 0, 0)


# ---- learning_rate_scheduler_test.py -------------------------------------------------------

SCHEDULES = [
    lambda epoch: 1.0 / (2.0 + epoch),  # test_updates_learning_rate
    lambda epoch, lr: lr / 2,  # test_schedule_dependent_on_previous_learning_rate
    lambda epoch, lr: 0.5,  # test_learning_rate_in_history
    lambda epoch, lr: lr if epoch < 2 else lr * 0.1,
]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_learning_rate_scheduler_sets_and_logs_what_keras_does(schedule, capsys):
    epochs = [{"loss": 1.0}] * 4
    keras_logs, our_logs = [], []

    class Logs:
        """Catches the logs the scheduler wrote its learning rate into."""

        def __init__(self, scheduler, into):
            self.scheduler, self.into = scheduler, into

        def __getattr__(self, name):
            return getattr(self.scheduler, name)

        def on_epoch_end(self, epoch, logs=None):
            self.scheduler.on_epoch_end(epoch, logs)
            self.into.append(logs["learning_rate"])

    keras_rates = drive(Logs(keras.callbacks.LearningRateScheduler(schedule, verbose=1), keras_logs),
                        keras_model(0.03), epochs, rate=keras_lr)
    keras_out = capsys.readouterr().out
    our_rates = drive(Logs(ours.LearningRateScheduler(schedule, verbose=1), our_logs),
                      OurModel(0.03), epochs, rate=lambda model: learning_rate(model.optimizer))
    our_out = capsys.readouterr().out
    assert our_rates == pytest.approx(keras_rates, rel=1e-6)
    assert our_logs == pytest.approx(keras_logs, rel=1e-6)
    assert all(type(value) is float for value in our_logs)
    # The same words; the numbers as each holds them (Keras in float32: 0.014999999664723873).
    assert _words(our_out) == _words(keras_out)
    assert _numbers(our_out) == pytest.approx(_numbers(keras_out), rel=1e-6)


def _words(text: str) -> str:
    return re.sub(r"\d+\.\d+(e-?\d+)?", "N", text)


def _numbers(text: str) -> list[float]:
    return [float(match[0]) for match in re.finditer(r"\d+\.\d+(e-?\d+)?", text)]


# ---- csv_logger_test.py ----------------------------------------------------------------------

CSV_CASES = [
    # test_CSVLogger: a separator, validation every epoch / every third epoch (NA between)
    ("\t", [{"loss": 0.5, "mse": 0.25, "val_loss": 0.6, "val_mse": 0.36}]),
    ("\t", [{"loss": 0.5, "mse": 0.25}, {"loss": 0.4, "mse": 0.2},
            {"loss": 0.3, "mse": 0.15, "val_loss": 0.35, "val_mse": 0.2},
            {"loss": 0.2, "mse": 0.1}]),
    (",", [{"loss": 1.0, "accuracy": 0.5, "val_loss": 1.5}, {"loss": 0.5, "extra": 3},
           {"accuracy": 0.75, "val_loss": 0.25, "val_accuracy": 0.8}]),
    (";", [{"loss": 1 / 3, "learning_rate": 0.001, "shape": [2, 3]}, {"loss": float("nan")}]),
    (",", []),
]


@pytest.mark.parametrize(("separator", "epochs"), CSV_CASES)
@pytest.mark.parametrize("existing", [None, "", "epoch,loss\r\n0,9.0\r\n"])
@pytest.mark.parametrize("append", [False, True])
def test_csv_logger_writes_the_bytes_keras_writes(tmp_path, separator, epochs, existing, append):
    files = []
    for name, library in (("keras", keras.callbacks), ("ours", ours)):
        path = tmp_path / f"{name}.csv"
        if existing is not None:
            path.write_bytes(existing.encode())
        logger = library.CSVLogger(str(path), separator=separator, append=append)
        drive(logger, KerasDummy(), epochs)
        drive(logger, KerasDummy(), epochs[:2])  # test_CSVLogger case 3: the logger reused
        files.append(path.read_bytes())
    assert files[1] == files[0]


# ---- model_checkpoint_test.py ----------------------------------------------------------------

CHECKPOINT_CASES = [
    # test_model_checkpoint_options: every epoch, save_best_only (min, max, auto), a missing
    # monitor, initial_value_threshold (beaten, never beaten, None)
    ({}, "val_loss", [0.5, 0.4, 0.6, 0.3]),
    ({"save_best_only": True}, "val_loss", [0.5, 0.4, 0.6, 0.3, 0.3]),
    ({"save_best_only": True, "mode": "max", "monitor": "val_accuracy"}, "val_accuracy",
     [0.5, 0.4, 0.6, 0.6, 0.7]),
    ({"save_best_only": True, "monitor": "loss"}, "loss", [0.5, 0.5, 0.6, 0.1]),
    ({"save_best_only": True, "initial_value_threshold": 0.45}, "val_loss", [0.5, 0.4, 0.6, 0.3]),
    ({"save_best_only": True, "initial_value_threshold": 0.1}, "val_loss", [0.5, 0.4, 0.6, 0.3]),
    ({"save_best_only": True, "mode": "max", "monitor": "val_accuracy",
      "initial_value_threshold": 0.55}, "val_accuracy", [0.5, 0.6, 0.58, 0.7]),
    ({"save_best_only": True, "initial_value_threshold": None}, "val_loss", [0.5, 0.4]),
    ({"save_weights_only": True}, "val_loss", [0.5, 0.4]),
    ({"save_weights_only": True, "save_best_only": True}, "val_loss", [0.5, 0.6, 0.4]),
]


@pytest.mark.parametrize("verbose", [0, 1])
@pytest.mark.parametrize(("options", "key", "values"), CHECKPOINT_CASES)
def test_model_checkpoint_saves_the_epochs_keras_saves(tmp_path, capsys, options, key, values,
                                                      verbose):
    suffix = ".weights.h5" if options.get("save_weights_only") else ".keras"
    filepath = str(tmp_path / f"m-{{epoch:02d}}-{{{key}:.2f}}{suffix}")
    epochs = [{key: value} for value in values]
    (theirs, keras_cb, _, keras_out), (mine, our_cb, _, our_out) = both(
        lambda lib: lib.ModelCheckpoint(filepath, verbose=verbose, **options), epochs, capsys)
    written = mine.saved or sorted(str(path) for path in tmp_path.iterdir())
    assert written == theirs.saved
    assert our_out == keras_out
    assert our_cb.best == keras_cb.best


def test_model_checkpoint_with_a_missing_monitor_saves_every_epoch_as_keras(tmp_path):
    epochs = [{"loss": 0.5}, {"loss": 0.4}]
    filepath = str(tmp_path / "m-{epoch}.keras")
    with pytest.warns(UserWarning):
        theirs = drive(keras.callbacks.ModelCheckpoint(filepath, save_best_only=True),
                       keras_dummy := KerasDummy(), epochs)
    with pytest.warns(UserWarning):
        drive(ours.ModelCheckpoint(filepath, save_best_only=True), mine := OurModel(), epochs)
    assert theirs == [0, 1] and mine.saved == keras_dummy.saved == [
        str(tmp_path / "m-1.keras"), str(tmp_path / "m-2.keras")]


@pytest.mark.parametrize(("save_freq", "steps", "pattern"), [
    (15, 5, "m-{epoch}.keras"),  # case 8a: epochs 3, 6, 9 of 10
    (1, 2, "m-{epoch}-{batch}.keras"),  # case 10: every batch
    (3, 4, "m-{epoch:02d}-{batch:02d}-{loss:.3f}.keras"),
])
def test_model_checkpoint_save_freq_saves_the_batches_keras_saves(tmp_path, capsys, save_freq,
                                                                 steps, pattern):
    epochs = [{"loss": 1.0 / (epoch + 1)} for epoch in range(10)]
    batches = [[{"loss": 1.0 / (epoch + 1) + 0.01 * batch} for batch in range(steps)]
               for epoch in range(10)]
    filepath = str(tmp_path / pattern)
    (theirs, _, _, keras_out), (mine, _, _, our_out) = both(
        lambda lib: lib.ModelCheckpoint(filepath, monitor="loss", save_freq=save_freq, verbose=1),
        epochs, capsys, batches=batches)
    assert mine.saved == theirs.saved and len(mine.saved) == 10 * steps // save_freq
    assert our_out == keras_out
    if save_freq == 15:
        assert [Path(path).name for path in mine.saved] == ["m-3.keras", "m-6.keras", "m-9.keras"]


def test_model_checkpoint_refuses_a_save_freq_keras_refuses():
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        keras.callbacks.ModelCheckpoint("m.keras", save_freq="invalid_save_freq")
    with pytest.raises(OptionError, match=r"^save_freq='invalid_save_freq' is not a frequency"):
        ours.ModelCheckpoint("m.keras", save_freq="invalid_save_freq")


# ---- terminate_on_nan_test.py ----------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_terminate_on_nan_stops_or_raises_as_keras(capsys, bad):
    epochs = [{"loss": 1.0}] * 3
    batches = [[{"loss": 1.0}, {"loss": 1.0}], [{"loss": 1.0}, {"loss": bad}], [{"loss": 1.0}] * 2]
    (_, _, keras_run, keras_out), (_, _, our_run, our_out) = both(
        lambda lib: lib.TerminateOnNaN(), epochs, capsys, batches=batches)
    assert our_run == keras_run == [0, 1] and our_out == keras_out
    messages = []
    for library, model in ((keras.callbacks, KerasDummy()), (ours, OurModel())):
        with pytest.raises(RuntimeError) as raised:
            drive(library.TerminateOnNaN(raise_error=True), model, epochs, batches=batches)
        messages.append(str(raised.value))
    assert messages[1] == messages[0]


# ---- lambda_callback_test.py, and History's keys: real fits side by side -----------------------

def test_lambda_callback_and_history_see_what_keras_shows_them(capsys):
    import numpy as np

    from streamfit.training import Model

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 2)).astype(np.float32), rng.integers(0, 3, 16)

    def recorder(calls):
        return dict(
            on_train_begin=lambda logs: calls.append("train_begin"),
            on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
            on_batch_begin=lambda batch, logs: calls.append(f"batch_begin {batch}"),  # Keras 2's
            on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch}"),
            # The keys as a set: Keras 3 hands callbacks its logs sorted by name, streamfit
            # loss first (History is in Keras' order all the same).
            on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
            on_train_end=lambda logs: calls.append("train_end"))

    keras_calls, our_calls = [], []
    theirs = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    theirs.compile(optimizer="sgd", metrics=["accuracy"],
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_history = theirs.fit(x, y, batch_size=4, validation_split=0.25, epochs=2, verbose=0,
                               callbacks=[keras.callbacks.LambdaCallback(**recorder(keras_calls)),
                                          keras.callbacks.ReduceLROnPlateau()])
    torch.manual_seed(0)
    mine = Model(torch.nn.Linear(2, 3), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"], optimizer="sgd", seed=0)
    our_history = mine.fit(x, y, batch_size=4, validation_split=0.25, epochs=2, verbose=0,
                           callbacks=[ours.LambdaCallback(**recorder(our_calls)),
                                      ours.ReduceLROnPlateau()])
    assert our_calls == keras_calls
    assert list(our_history.history) == list(keras_history.history)
