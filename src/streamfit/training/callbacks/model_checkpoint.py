"""`ModelCheckpoint`: save the model at the end of each epoch, or when it improves."""

from __future__ import annotations

import os
from typing import Any

from streamfit.errors import UserError
from streamfit.training.callbacks.monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Save the model (`Model.save`) at the end of each epoch.

    Args:
        filepath: where to save; may hold fields filled from the epoch (1-based)
            and the logs, e.g. "ckpt/{epoch:02d}-{val_loss:.2f}".
        monitor: the log key compared with `save_best_only`.
        verbose: 1 prints each save.
        save_best_only: save only when `monitor` improves on its best so far (every
            epoch, with a warning, when the logs lack it, as in Keras).
        mode: "min", "max" or "auto" (see `monitor.improves_upward`).
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, mode: str = "auto"):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.best: float | None = None

    def _path(self, epoch: int, logs: dict) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as error:
            raise UserError(
                f"ModelCheckpoint(filepath={self.filepath!r}) cannot be filled ({error!r}); "
                f"use fields from epoch and the logs: {sorted(logs)}") from None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = self._monitored(logs, "saving every epoch") if self.save_best_only else None
        if current is not None:  # without the monitor, Keras saves every epoch (and warns)
            if not self._improves(current, self.best):
                return
            self.best = current
        path = self._path(epoch, logs)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        self.model.save(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}
