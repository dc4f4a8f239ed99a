"""`ReduceLROnPlateau`: lower the learning rate when a monitored value stops improving."""

from __future__ import annotations

from typing import Any

from streamfit.errors import check_number
from streamfit.training.callbacks.monitor import MonitorCallback
from streamfit.training.optimizers import learning_rate, set_learning_rate


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` when a monitored value stops improving.

    Args:
        monitor: the log key.
        factor: the multiplier, below 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto" (see `monitor.improves_upward`).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs after a reduction that do not count towards the next one;
            the last of them does, as in Keras (so `cooldown=1` with `patience=1`
            can reduce on consecutive epochs).
        min_lr: the learning rate never goes below this.

    Raises:
        OptionError: a factor that is not a number below 1.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        self.factor = check_number("factor", factor, below=1, integer=False)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def _improves(self, value: float, reference: float | None) -> bool:
        # Keras' ReduceLROnPlateau moves the reference by min_delta, not the value.
        if reference is None:
            return True
        return (value > reference + self.min_delta if self.maximize
                else value < reference - self.min_delta)

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = learning_rate(self.model.optimizer)
        current = self._monitored(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:  # asked after the countdown, as Keras does: the last
            # cooldown epoch already counts towards the next reduction
            self.wait += 1
            if self.wait >= self.patience:
                old = learning_rate(self.model.optimizer)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    set_learning_rate(self.model.optimizer, new)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}
