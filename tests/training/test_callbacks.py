"""Callbacks: Keras' hooks, order and semantics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training import Model, load_model
from streamfit.training.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

SPARSE_CE = "sparse_categorical_crossentropy"


class Scripted(Callback):
    """Puts scripted values under `key` in each epoch's logs and keeps each epoch's weights.

    It must come before the callback under test, which then reads the value.
    """

    def __init__(self, key: str, values: list[float]):
        super().__init__()
        self.key, self.values = key, values
        self.weights: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append({k: v.clone() for k, v in self.model.module.state_dict().items()})


@pytest.fixture
def small(data):
    x, y = data
    return x[:128].toarray(), y[:128]


def _model(lr: float = 0.1, optimizer=None) -> Model:
    torch.manual_seed(0)
    return Model(torch.nn.Linear(300, 3), loss=SPARSE_CE, metrics=["accuracy"], seed=0,
                 optimizer=optimizer or (lambda params: torch.optim.SGD(params, lr=lr)))


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_hooks_run_in_keras_order_with_model_and_params(small):
    x, y = small
    calls = []

    class Recorder(Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                def hook(*args):
                    calls.append(" ".join([name[3:], *(str(a) for a in args if isinstance(a, int))]))
                return hook
            return super().__getattribute__(name)

    recorder = Recorder()
    model = _model()
    model.fit(x, y, batch_size=64, epochs=1, validation_data=(x[:40], y[:40]),
              validation_batch_size=32, verbose=0, callbacks=[recorder])
    assert calls == [
        "train_begin", "epoch_begin 0",
        "train_batch_begin 0", "train_batch_end 0", "train_batch_begin 1", "train_batch_end 1",
        "test_begin", "test_batch_begin 0", "test_batch_end 0", "test_batch_begin 1",
        "test_batch_end 1", "test_end", "epoch_end 0", "train_end"]
    assert recorder.model is model and recorder.params == {"epochs": 1, "steps": 2, "verbose": 0}
    calls.clear()
    model.predict(x, batch_size=100, callbacks=[recorder])
    assert calls == ["predict_begin", "predict_batch_begin 0", "predict_batch_end 0",
                     "predict_batch_begin 1", "predict_batch_end 1", "predict_end"]


def test_batch_logs_are_running_means_and_the_keras_batch_alias_runs(small):
    x, y = small
    seen = []

    class OldStyle(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(dict(logs))

    history = _model().fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[OldStyle()])
    assert [logs["size"] for logs in seen] == [32, 32, 32, 32]
    assert seen[-1]["loss"] == pytest.approx(history.history["loss"][0])
    assert seen[-1]["accuracy"] == pytest.approx(history.history["accuracy"][0])


def test_callback_list_rejects_other_objects():
    with pytest.raises(UserError, match="callbacks= holds a str; each callback must subclass"):
        CallbackList(["EarlyStopping"])


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(small):
    x, y = small
    script = Scripted("val_loss", [1.0, 0.8, 0.9, 0.85, 0.7, 0.6])
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = _model()
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[script, stopper])
    assert history.epoch == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best == 0.8 and stopper.best_epoch == 1
    assert _same(model.module.state_dict(), script.weights[1])
    assert not _same(script.weights[3], script.weights[1])
    assert json.loads(json.dumps(stopper.state_dict())) == {
        "wait": 2, "stopped_epoch": 3, "best": 0.8, "best_epoch": 1}


def test_early_stopping_min_delta_mode_and_baseline(small):
    x, y = small
    stopper = EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[
        Scripted("val_accuracy", [0.5, 0.6, 0.62, 0.7, 0.8]), stopper])
    assert stopper.maximize and history.epoch == [0, 1, 2]  # +0.02 is below min_delta
    worsening = [0.9, 0.95, 0.97, 0.99, 0.4]
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[
        Scripted("val_loss", worsening), EarlyStopping(patience=2)])
    assert history.epoch == [0, 1, 2]
    # The first epoch does not beat the baseline, so its patience is not reset.
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[
        Scripted("val_loss", worsening), EarlyStopping(patience=2, baseline=0.5)])
    assert history.epoch == [0, 1]


def test_early_stopping_state_round_trips():
    stopper = EarlyStopping(patience=3)
    stopper.load_state_dict({"wait": 2, "stopped_epoch": 0, "best": 0.5, "best_epoch": 4})
    assert stopper.state_dict() == {"wait": 2, "stopped_epoch": 0, "best": 0.5, "best_epoch": 4}


def test_model_checkpoint_fills_the_path_and_saves_every_epoch(small, tmp_path):
    x, y = small
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        Scripted("val_loss", [1.0, 0.5]),
        ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01-1.00", "ckpt-02-0.50"]
    loaded = load_model(tmp_path / "ckpt-02-0.50", module=torch.nn.Linear(300, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_model_checkpoint_save_best_only_saves_on_improvement(small, tmp_path):
    x, y = small
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}"), monitor="val_loss",
                                 save_best_only=True)
    _model().fit(x, y, epochs=4, verbose=0, callbacks=[
        Scripted("val_loss", [1.0, 1.2, 0.9, 0.95]), checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1", "e3"]
    assert checkpoint.state_dict() == {"best": 0.9}


def test_model_checkpoint_save_best_only_without_its_monitor_saves_every_epoch_as_keras(small, tmp_path):
    x, y = small
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}"), monitor="val_f1", save_best_only=True)
    with pytest.warns(UserWarning, match="monitors 'val_f1', which is not in the logs.*saving every epoch"):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1", "e2", "e3"]
    assert checkpoint.state_dict() == {"best": None}


def test_model_checkpoint_with_an_unknown_field_is_a_user_error(small, tmp_path):
    x, y = small
    with pytest.raises(UserError, match="cannot be filled .*'val_acc'.*use fields from epoch"):
        _model().fit(x, y, epochs=1, verbose=0,
                     callbacks=[ModelCheckpoint(str(tmp_path / "{val_acc:.2f}"))])


def test_csv_logger_writes_a_header_and_one_row_per_epoch(small, tmp_path):
    x, y = small
    path = tmp_path / "log.csv"
    history = _model().fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    rows = path.read_text().splitlines()
    # Keras 3: the first epoch's keys sorted, and val_ columns when it had none.
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]
    assert float(rows[2].split(",")[2]) == pytest.approx(history.history["loss"][1])
    assert rows[2].split(",")[3:] == ["NA", "NA"]
    _model().fit(x, y, epochs=3, initial_epoch=2, verbose=0,
                 callbacks=[CSVLogger(path, append=True)])
    assert [row.split(",")[0] for row in path.read_text().splitlines()] == ["epoch", "0", "1", "2"]
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert path.read_text().splitlines()[0] == "epoch;accuracy;loss;val_accuracy;val_loss"


def test_learning_rate_scheduler_sets_every_param_group(small):
    x, y = small
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(300, 8), torch.nn.Linear(8, 3))
    model = Model(module, loss=SPARSE_CE, optimizer=lambda params: torch.optim.SGD(
        [{"params": module[0].parameters()}, {"params": module[1].parameters(), "lr": 0.5}],
        lr=0.1))
    seen = []

    class Watch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([group["lr"] for group in self.model.optimizer.param_groups])

    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)), Watch()])
    assert seen == [[0.1, 0.1], [0.05, 0.05], [pytest.approx(0.1 / 3)] * 2]
    assert history.history["learning_rate"] == [0.1, 0.05, pytest.approx(0.1 / 3)]
    model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.02)])
    assert model.optimizer.param_groups[1]["lr"] == 0.02
    with pytest.raises(UserError, match="returned 'fast'; it must return the learning rate"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: "fast")])


class RecordLR(Callback):
    """Appends the learning rate after each epoch's callbacks to `rates`."""

    def __init__(self, rates: list):
        super().__init__()
        self.rates = rates

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.model.optimizer.param_groups[0]["lr"])


def test_reduce_lr_on_plateau_reduces_after_patience(small):
    x, y = small
    model = _model(lr=0.1)
    reducer = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[
        Scripted("val_loss", [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]), reducer])
    # Logged at each epoch's end before the reduction, as Keras does.
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert reducer.state_dict() == {"best": 0.5, "wait": 1, "cooldown_counter": 0}


def test_reduce_lr_on_plateau_cooldown_and_min_lr(small):
    x, y = small
    model = _model(lr=0.1)
    rates = []

    model.fit(x, y, epochs=6, verbose=0, callbacks=[
        Scripted("val_loss", [1.0] * 6),
        ReduceLROnPlateau(factor=0.1, patience=1, cooldown=1, min_lr=0.002), RecordLR(rates)])
    # Keras counts the cooldown down before asking whether it is over, so with cooldown=1
    # epoch 2 already counts and reduces again, to the floor.
    assert rates == pytest.approx([0.1, 0.01, 0.002, 0.002, 0.002, 0.002])
    with pytest.raises(UserError, match=r"^factor=1\.0 must be a number < 1$"):
        ReduceLROnPlateau(factor=1.0)


def test_terminate_on_nan_stops_on_the_bad_batch(small, capsys):
    x, y = small
    bad = x[:16].copy()
    bad[0, 0] = np.nan
    batches = [(x[:16], y[:16]), (x[16:32], y[16:32]), (bad, y[:16]), (x[:16], y[:16])]
    sizes = []

    class Count(Callback):
        def on_train_batch_end(self, batch, logs=None):
            sizes.append(logs["size"])

    history = _model().fit(iter(batches * 3), steps_per_epoch=4, epochs=3, verbose=0,
                           callbacks=[TerminateOnNaN(), Count()])
    assert sizes == [16, 16, 16] and history.epoch == [0]
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_a_monitor_missing_from_the_logs_warns_and_skips(small):
    x, y = small
    stopper = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="monitors 'val_loss', which is not in the logs"):
        history = _model().fit(x, y, epochs=2, verbose=0, callbacks=[stopper])
    assert history.epoch == [0, 1]


def test_callback_list_keys_state_by_class_and_rank_and_restores_it():
    first, second = EarlyStopping(patience=1), EarlyStopping(restore_best_weights=True)
    first.wait, second.best = 1, 0.25
    second.best_weights = {"weight": torch.ones(2)}
    callbacks = CallbackList([first, TerminateOnNaN(), second, History()])
    state, tensors = callbacks.state_dict(), callbacks.tensor_state_dict()
    assert list(state) == ["EarlyStopping#0", "EarlyStopping#1", "History#0"]  # no state: left out
    assert state["EarlyStopping#0"]["wait"] == 1 and tensors["EarlyStopping#0"] == {}
    again = [EarlyStopping(patience=1), TerminateOnNaN(), EarlyStopping(restore_best_weights=True),
             History()]
    restored = CallbackList(again)
    restored.load_state_dict(json.loads(json.dumps(state)))
    restored.load_tensor_state_dict(tensors)
    assert again[0].wait == 1 and again[2].best == 0.25
    assert torch.equal(again[2].best_weights["weight"], torch.ones(2))
    with pytest.raises(UserError, match="it holds no state for the callback EarlyStopping #2"):
        CallbackList([*again, EarlyStopping()]).load_state_dict(state)


def test_a_callback_state_json_cannot_hold_names_the_callback():
    class Holds(Callback):
        def state_dict(self):
            return {"array": np.zeros(2)}

    with pytest.raises(UserError, match=r"^Holds\.state_dict\(\) returned a value JSON cannot hold"):
        CallbackList([Holds()]).state_dict()


@pytest.mark.parametrize("make", [EarlyStopping, ReduceLROnPlateau,
                                  lambda **kw: ModelCheckpoint("m", **kw)])
def test_monitoring_callbacks_share_the_mode_check(make):
    with pytest.raises(OptionError, match=r"^mode='up' is not a mode; use 'auto', 'min' or 'max'$"):
        make(mode="up")
    assert make(monitor="val_auc").maximize and not make(monitor="val_loss").maximize
    assert make(monitor="val_loss", mode="max").maximize
    assert make(monitor="val_f1").maximize and make(monitor="top3_accuracy").maximize
    assert not make(monitor="val_mae").maximize and not make(monitor="output_loss").maximize
    # Keras 3: mode="auto" raises for what it cannot tell (it minimised val_f1 before).
    with pytest.raises(OptionError, match=r"^monitor='val_los' is not a loss or a metric .*mode='max'"):
        make(monitor="val_los")
    assert make(monitor="val_los", mode="min").maximize is False


@pytest.mark.parametrize(("cooldown", "patience"), [(0, 1), (1, 1), (2, 1), (1, 2), (3, 2)])
def test_reduce_lr_on_plateau_counts_as_keras_does(small, cooldown, patience):
    import os
    import sys

    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"  # read once, at import; its default is TensorFlow
    keras = pytest.importorskip("keras", reason="keras is not installed")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was imported with the {keras.backend.backend()} backend")
    values = [1.0, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.85, 0.7, 0.7, 0.7]
    reference = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    theirs = keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=patience, cooldown=cooldown)
    theirs.set_model(reference)
    theirs.on_train_begin()
    expected = []
    for epoch, value in enumerate(values):
        theirs.on_epoch_end(epoch, {"val_loss": value})
        expected.append(float(reference.optimizer.learning_rate))
    x, y = small
    model = _model(lr=0.1)
    rates = []

    model.fit(x, y, epochs=len(values), verbose=0, callbacks=[
        Scripted("val_loss", values), ReduceLROnPlateau(factor=0.5, patience=patience, cooldown=cooldown),
        RecordLR(rates)])
    assert rates == pytest.approx(expected)


def test_early_stopping_on_a_rising_f1_keeps_training(small):
    x, y = small
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[
        Scripted("val_f1", [0.5, 0.6, 0.7, 0.8, 0.9]), EarlyStopping(monitor="val_f1", patience=1)])
    assert len(history.history["loss"]) == 5  # it minimised val_f1 and stopped after epoch 2


def test_streamfit_callbacks_is_keras_spelling_of_the_callbacks_home():
    import streamfit
    import streamfit.callbacks
    import streamfit.training.callbacks as home
    from streamfit.callbacks import EarlyStopping as Imported
    from streamfit.callbacks import LambdaCallback, ModelCheckpoint  # noqa: F401

    assert Imported is home.EarlyStopping is streamfit.callbacks.EarlyStopping
    assert streamfit.callbacks.__all__ == home.__all__
    assert {"BackupAndRestore", "LambdaCallback", "TensorBoard"} <= set(streamfit.callbacks.__all__)


class Weights(Callback):
    """Keeps each epoch's weights (at its end, before the callbacks after it)."""

    def __init__(self):
        super().__init__()
        self.weights: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append({k: v.clone() for k, v in self.model.module.state_dict().items()})


def test_early_stopping_start_from_epoch_neither_stops_nor_tracks_before_it(small):
    x, y = small
    scripted = Scripted("val_loss", [0.1, 2.0, 3.0, 0.5, 0.6, 0.7, 0.8])
    stopping = EarlyStopping(patience=1, start_from_epoch=3, restore_best_weights=True)
    model = _model()
    history = model.fit(x, y, epochs=7, verbose=0, callbacks=[scripted, stopping])
    # Keras 3: epochs 0-2 are not looked at (0.1 is not the best); 3 is, 4 does not improve.
    assert len(history.history["loss"]) == 5 and stopping.best == 0.5
    assert stopping.best_epoch == 3 and _same(model.module.state_dict(), scripted.weights[3])
    with pytest.raises(OptionError, match=r"^start_from_epoch=-1 must be"):
        EarlyStopping(start_from_epoch=-1)


def test_model_checkpoint_says_what_keras_says_at_verbose_1(small, tmp_path, capsys):
    x, y = small
    path = str(tmp_path / "m{epoch}")
    _model().fit(x, y, epochs=3, verbose=0, callbacks=[
        Scripted("val_loss", [0.5, 0.4, 0.45]),
        ModelCheckpoint(path, save_best_only=True, verbose=1)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines == [
        f"Epoch 1: val_loss improved from None to 0.50000, saving model to {tmp_path}/m1",
        f"Epoch 1: finished saving model to {tmp_path}/m1",
        f"Epoch 2: val_loss improved from 0.50000 to 0.40000, saving model to {tmp_path}/m2",
        f"Epoch 2: finished saving model to {tmp_path}/m2",
        "Epoch 3: val_loss did not improve from 0.40000"]
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path, verbose=1)])
    assert capsys.readouterr().out == (f"\nEpoch 1: saving model to {tmp_path}/m1\n"
                                       f"\nEpoch 1: finished saving model to {tmp_path}/m1\n")


def test_model_checkpoint_initial_value_threshold_is_the_first_value_to_beat(small, tmp_path):
    x, y = small
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}"), save_best_only=True,
                                 initial_value_threshold=0.5)
    _model().fit(x, y, epochs=4, verbose=0, callbacks=[
        Scripted("val_loss", [0.6, 0.45, 0.5, 0.3]), checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2", "e4"]


def test_model_checkpoint_save_weights_only_writes_the_state_dict_alone(small, tmp_path):
    x, y = small
    weights = Weights()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        weights, ModelCheckpoint(str(tmp_path / "w" / "{epoch}.weights.pt"), save_weights_only=True)])
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["1.weights.pt", "2.weights.pt"]
    saved = torch.load(tmp_path / "w" / "1.weights.pt", weights_only=True)
    assert sorted(saved) == ["bias", "weight"] and _same(saved, weights.weights[0])
    fresh = torch.nn.Linear(300, 3)
    fresh.load_state_dict(torch.load(tmp_path / "w" / "2.weights.pt", weights_only=True))
    assert _same(fresh.state_dict(), model.module.state_dict())
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserError, match=r"cannot write .*dir: it is a directory; give a file path"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[ModelCheckpoint(str(tmp_path / "dir"), save_weights_only=True)])


def test_model_checkpoint_save_freq_counts_batches_across_epochs(small, tmp_path):
    x, y = small  # 128 rows, batches of 32: 4 a epoch
    seen = []

    class Steps(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append({k: v.clone() for k, v in self.model.module.state_dict().items()})

    model = _model()
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[
        Steps(), ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.pt"), save_weights_only=True,
                                 save_freq=3, monitor="loss")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-1-3.pt", "m-2-2.pt"]
    assert _same(torch.load(tmp_path / "m-2-2.pt", weights_only=True), seen[5])
    for bad in ("batch", 0, 2.5, True):
        with pytest.raises(OptionError, match=r"^save_freq=.* use 'epoch' or a number of batches"):
            ModelCheckpoint("m", save_freq=bad)
    # save_freq="epoch" asks for no batch logs (they cost a wait for the device per batch).
    assert not CallbackList([ModelCheckpoint("m")]).wants_batch_logs("train")
    assert CallbackList([ModelCheckpoint("m", save_freq=2)]).wants_batch_logs("train")


def test_csv_logger_writes_na_for_what_an_epoch_lacks(small, tmp_path):
    x, y = small

    class LateValidation(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch > 0:
                logs["val_loss"] = 0.25
            if epoch == 0:
                logs["shape"] = [2, 3]

    path = tmp_path / "log.csv"
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[LateValidation(), CSVLogger(path)])
    rows = [row.split(",", 3) for row in path.read_text().splitlines()]
    assert rows[0] == ["epoch", "accuracy", "loss", "shape,val_accuracy,val_loss,val_shape"]
    assert rows[1][3] == '"""[2, 3]""",NA,NA,NA'  # Keras' list cell, quoted by csv
    assert rows[2][3] == "NA,NA,0.25,NA"
    empty = tmp_path / "none.csv"
    _model().fit(x, y, epochs=1, initial_epoch=1, verbose=0, callbacks=[CSVLogger(empty)])
    assert empty.read_text() == ""  # Keras creates the file at the start of training


def test_lambda_callback_calls_each_function_with_the_hooks_arguments(small):
    from streamfit.training.callbacks import LambdaCallback

    x, y = small
    calls = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_batch_begin=lambda batch, logs: calls.append(f"batch_begin {batch}"),
        on_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_begin=lambda logs: calls.append("test_begin"))
    _model().fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[callback],
                 validation_data=(x[:10], y[:10]))
    assert calls == ["train_begin", "epoch_begin 0", "batch_begin 0",
                     "batch_end 0 ['accuracy', 'loss', 'size']", "batch_begin 1",
                     "batch_end 1 ['accuracy', 'loss', 'size']", "test_begin",
                     "epoch_end 0 ['accuracy', 'loss', 'val_accuracy', 'val_loss']", "train_end"]
    keras3 = []
    _model().fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[LambdaCallback(
        on_train_batch_end=lambda batch, logs: keras3.append(batch))])
    assert keras3 == [0, 1]
    with pytest.raises(UserError, match=r"^LambdaCallback has no hook on_epoch_ends=; give one of"):
        LambdaCallback(on_epoch_ends=print)
    with pytest.raises(UserError, match=r"^LambdaCallback\(on_epoch_end=3\) is not callable"):
        LambdaCallback(on_epoch_end=3)


def test_history_keeps_keras_3_key_order(small):
    x, y = small
    history = _model().fit(x, y, epochs=1, verbose=0, validation_data=(x[:10], y[:10]),
                           callbacks=[ReduceLROnPlateau()])
    # Keras 3 sorts the training logs, then the validation logs; callbacks' keys follow.
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss",
                                     "learning_rate"]
