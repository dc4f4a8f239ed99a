"""`EarlyStopping`: stop training when a monitored value stops improving."""

from __future__ import annotations

from typing import Any

import torch

from streamfit.errors import check_number
from streamfit.training.callbacks.monitor import MonitorCallback


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


class EarlyStopping(MonitorCallback):
    """Stop training when a monitored value stops improving.

    Args:
        monitor: the log key, e.g. "val_loss" or "val_accuracy".
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: "min", "max", or "auto" (see `monitor.improves_upward`).
        restore_best_weights: at the end of training, load the weights of the
            best epoch (Keras 3: also when training ran out of epochs).
        baseline: the value to beat; improvements that do not beat it do not
            reset the patience.
        verbose: 1 prints when it stops.
        start_from_epoch: epochs (0-based: before this index) to wait before
            monitoring: a warm-up in which nothing stops the run and the best
            value and weights are not tracked, as in Keras 3.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, abs(min_delta))
        self.start_from_epoch = check_number("start_from_epoch", start_from_epoch, minimum=0)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.best_weights: dict[str, torch.Tensor] | None = None
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitored(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _snapshot(self.model.module)
            self.best_epoch = epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model.module)
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.module.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch}

    def tensor_state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.best_weights or {})

    def load_tensor_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        self.best_weights = dict(tensors) or None
