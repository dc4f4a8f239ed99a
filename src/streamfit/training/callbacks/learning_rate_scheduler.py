"""`LearningRateScheduler`: the learning rate of each epoch from a schedule."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable

import torch

from streamfit.errors import UserError
from streamfit.training.callbacks.callback import Callback
from streamfit.training.optimizers import learning_rate, set_learning_rate


class LearningRateScheduler(Callback):
    """Set the learning rate of every parameter group at the start of each epoch.

    Args:
        schedule: `schedule(epoch, lr) -> new lr` (0-based epoch, current lr);
            a one-argument `schedule(epoch)` is accepted too, as in Keras.
        verbose: 1 prints each change.
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose
        try:
            self._takes_lr = len(inspect.signature(schedule).parameters) >= 2
        except (TypeError, ValueError):
            self._takes_lr = True

    def on_epoch_begin(self, epoch, logs=None):
        current = learning_rate(self.model.optimizer)
        lr = self.schedule(epoch, current) if self._takes_lr else self.schedule(epoch)
        if isinstance(lr, torch.Tensor):
            lr = lr.item()
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
            raise UserError(
                f"LearningRateScheduler: schedule({epoch}, {current}) returned {lr!r}; "
                "it must return the learning rate as a number")
        set_learning_rate(self.model.optimizer, float(lr))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = learning_rate(self.model.optimizer)
