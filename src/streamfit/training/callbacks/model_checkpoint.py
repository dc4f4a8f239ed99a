"""`ModelCheckpoint`: save the model at the end of each epoch or every N steps, or when it improves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from streamfit.errors import UserError
from streamfit.files import write_atomic
from streamfit.training.callbacks.callback import check_frequency
from streamfit.training.callbacks.monitor import MonitorCallback


def save_weights(module: torch.nn.Module, path: str | os.PathLike) -> None:
    """Write `module.state_dict()` (CPU tensors) to the file `path` with `torch.save`, atomically.

    Read it back with `module.load_state_dict(torch.load(path, weights_only=True))`:
    a plain dict of tensors, so no pickled objects are needed or accepted.

    Raises:
        UserError: `path` is a directory.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"ModelCheckpoint(save_weights_only=True) cannot write {path}: it is a "
                        "directory; give a file path, e.g. 'ckpt/{epoch:02d}.weights.pt'")
    weights = {name: value.detach().cpu() for name, value in module.state_dict().items()}
    write_atomic(path, lambda file: torch.save(weights, file))


class ModelCheckpoint(MonitorCallback):
    """Save the model (`Model.save`, a directory) or its weights, as Keras' `ModelCheckpoint`.

    Args:
        filepath: where to save; may hold fields filled from the epoch (1-based),
            with `save_freq=N` the batch (1-based, within the epoch), and the
            logs: "ckpt/{epoch:02d}-{val_loss:.2f}". Missing parent folders
            are created.
        monitor: the log key compared with `save_best_only`.
        verbose: 1 prints each save and, with `save_best_only`, each epoch that
            did not improve, in Keras' words ("Epoch 3: val_loss improved from
            0.50000 to 0.40000, saving model to ...").
        save_best_only: save only when `monitor` improves on its best so far (every
            time, with a warning, when the logs lack it, as in Keras).
        save_weights_only: write only the module's `state_dict` to the file
            `filepath` (`save_weights`; no optimizer, loss or config), instead
            of the model directory that `load_model` reads.
        mode: "min", "max" or "auto" (see `monitor.improves_upward`).
        save_freq: "epoch" saves at each epoch's end; an integer N saves after
            every N training batches (counted across epochs), with that batch's
            logs (the epoch's running means).
        initial_value_threshold: with `save_best_only`, the value the first
            save must beat (None: the first value is saved).

    Raises:
        OptionError: a save_freq that is neither "epoch" nor an integer >= 1.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str | int = "epoch",
                 initial_value_threshold: float | None = None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = check_frequency("save_freq", save_freq, "batches")
        self.best: float | None = initial_value_threshold
        self.batches_since_saving = 0
        self.epoch = 0
        if save_freq != "epoch":
            # Only then a batch hook: batch logs cost a wait for the device (`wants_batch_logs`).
            self.on_train_batch_end = self._batch_end

    def _path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {"epoch": epoch + 1, **logs}
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise UserError(
                f"ModelCheckpoint(filepath={self.filepath!r}) cannot be filled ({error!r}); "
                f"use fields from epoch and the logs: {sorted(fields)}") from None

    def _say(self, epoch: int, message: str) -> None:
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {message}")  # Keras' words; the bar's line is still open

    def _should_save(self, epoch: int, logs: dict, path: str) -> bool:
        if not self.save_best_only:
            self._say(epoch, f"saving model to {path}")
            return True
        current = self._monitored(logs, "saving every epoch" if self.save_freq == "epoch"
                                  else f"saving every {self.save_freq} batches")
        if current is None:  # without the monitor, Keras saves every time (and warns)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if not self._improves(current, self.best):
            self._say(epoch, f"{self.monitor} did not improve from {best}")
            return False
        self._say(epoch, f"{self.monitor} improved from {best} to {current:.5f}, "
                  f"saving model to {path}")
        self.best = current
        return True

    def _save(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if self.save_weights_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            save_weights(self.model.module, path)
        else:
            self.model.save(path)
        self._say(epoch, f"finished saving model to {path}")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches_since_saving += 1
        if self.batches_since_saving >= self.save_freq:
            self.batches_since_saving = 0
            self._save(self.epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def state_dict(self) -> dict[str, Any]:
        if self.save_freq == "epoch":
            return {"best": self.best}
        # A resumed epoch does not begin again: its index comes back from here.
        return {"best": self.best, "batches_since_saving": self.batches_since_saving,
                "epoch": self.epoch}
