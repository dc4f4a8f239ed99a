"""BackupAndRestore: Keras' callback on top of fit's exact checkpoints."""

from __future__ import annotations

import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training import Model
from streamfit.training.callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
)
from streamfit.training.callbacks.backup_and_restore import checkpoint_arguments

SPARSE_CE = "sparse_categorical_crossentropy"


class Crash(Callback):
    """Raises from the batch hook at (epoch, batch), as a failing run would."""

    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("the machine went away")


@pytest.fixture
def small(data):
    x, y = data
    return x[:160], y[:160]  # batches of 32: 5 steps a epoch


def _model(mlp) -> Model:
    return Model(mlp(), loss=SPARSE_CE, metrics=["accuracy"], optimizer="adam", seed=0)


def _fit(model, x, y, callbacks):
    return model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_data=(x[:40], y[:40]),
                     callbacks=callbacks)


class Steps(Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1


# 15 steps in all; the last checkpoint before the crash: after the first epoch (5 steps), after
# step 8 (every 2; the crash comes before step 9's), after the second epoch (step 10).
@pytest.mark.parametrize(("save_freq", "crash", "left"), [("epoch", (1, 3), 10), (2, (1, 3), 7),
                                                          (3, (2, 0), 5)])
def test_a_crashed_run_run_again_ends_as_one_uninterrupted_run_and_its_backup_goes(
        small, mlp, tmp_path, save_freq, crash, left):
    x, y = small
    expected = _model(mlp)
    expected_history = _fit(expected, x, y, [])
    backup_dir = tmp_path / "backup"
    model = _model(mlp)
    with pytest.raises(RuntimeError, match="the machine went away"):
        _fit(model, x, y, [BackupAndRestore(backup_dir, save_freq=save_freq), Crash(*crash)])
    assert any(backup_dir.glob("ckpt-*.json"))  # kept for the next try
    again = _model(mlp)  # a new process: a fresh model, the same call
    steps = Steps()
    history = _fit(again, x, y, [BackupAndRestore(backup_dir, save_freq=save_freq), steps])
    assert steps.count == left  # resumed, not started again
    assert all(torch.equal(value, expected.module.state_dict()[name])
               for name, value in again.module.state_dict().items())
    assert history.history == expected_history.history and history.epoch == [0, 1, 2]
    assert not backup_dir.exists()


def test_only_the_checkpoints_this_run_wrote_are_deleted(small, mlp, tmp_path):
    x, y = small
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match=r"deleted its checkpoints and left .*backup.*notes\.txt"):
        _fit(_model(mlp), x, y, [BackupAndRestore(backup_dir)])
    assert sorted(p.name for p in backup_dir.iterdir()) == ["notes.txt"]
    (backup_dir / "notes.txt").unlink()
    _fit(_model(mlp), x, y, [BackupAndRestore(backup_dir)])
    assert backup_dir.is_dir() and not any(backup_dir.iterdir())  # the user's folder stays

    kept = tmp_path / "kept"
    _fit(_model(mlp), x, y, [BackupAndRestore(kept, delete_checkpoint=False)])
    assert len(list(kept.glob("ckpt-*.json"))) == 3  # fit's keep_checkpoints


def test_an_early_stopped_run_also_deletes_its_backup_and_a_second_fit_starts_afresh(
        small, mlp, tmp_path):
    x, y = small
    backup = BackupAndRestore(tmp_path / "b")
    model = _model(mlp)
    history = _fit(model, x, y, [CSVLogger(tmp_path / "log.csv"), backup,
                                 EarlyStopping(monitor="loss", patience=0, min_delta=10)])
    assert len(history.epoch) == 2 and not (tmp_path / "b").exists()
    assert _fit(model, x, y, [backup]).epoch == [0, 1, 2]


def test_checkpoint_arguments_turn_the_callback_into_fits_arguments(tmp_path):
    assert checkpoint_arguments(None, "c", "c", 5) == ("c", "c", 5)
    every = BackupAndRestore(tmp_path / "b", save_freq=7)
    assert checkpoint_arguments([every], None, None, None) == (str(tmp_path / "b"),) * 2 + (7,)
    assert checkpoint_arguments([BackupAndRestore("b")], None, None, 9) == ("b", "b", 9)
    for given in ({"checkpoint_dir": "c"}, {"resume_from": "c"}):
        arguments = {"checkpoint_dir": None, "resume_from": None, **given}
        with pytest.raises(UserError, match=rf"^fit got {next(iter(given))}= and a BackupAndRestore"):
            checkpoint_arguments([every], checkpoint_every_steps=None, **arguments)
    with pytest.raises(UserError, match=r"checkpoint_every_steps=3 and BackupAndRestore\(save_freq=7\)"):
        checkpoint_arguments([every], None, None, 3)
    with pytest.raises(UserError, match=r"two BackupAndRestore"):
        checkpoint_arguments([every, BackupAndRestore("b")], None, None, None)
    for bad in ("batch", 0, True):
        with pytest.raises(OptionError, match=r"^save_freq=.* 'epoch' or a number of steps"):
            BackupAndRestore("b", save_freq=bad)
    with pytest.raises(OptionError, match=r"^backup_dir='' is empty"):
        BackupAndRestore("")
    with pytest.raises(UserError, match=r"works through Model.fit's checkpoints"):
        BackupAndRestore("b").on_train_begin()
