"""Keras-style callbacks, with Keras' names, arguments and semantics.

A callback sees `self.model`, the streamfit `Model` (`.module`,
`.optimizer`, `.stop_training`), and `self.params` (`epochs`, `steps`,
`verbose`). Epochs and batches are 0-based in hooks; file names and printed
messages count epochs from 1, as Keras does.

Epoch logs hold `loss`, each metric by name, and `val_`-prefixed copies after
validation. Batch logs hold the running means of the epoch so far and `size`,
the rows of that batch. Callbacks run in the order given; `History` runs last,
so what earlier callbacks add to the logs (`learning_rate`) is recorded.

Callbacks that keep state between epochs expose `state_dict()` /
`load_state_dict()` with JSON-ready values, and `tensor_state_dict()` /
`load_tensor_state_dict()` with tensors (the weights that
`EarlyStopping(restore_best_weights=True)` holds), for checkpoints. A resumed
`fit` calls `on_train_begin` first, then loads the saved state, so whatever
`on_train_begin` resets comes back; it does not call `on_epoch_begin` again
for an epoch that had begun.
"""

from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import warnings
from collections.abc import Callable
from typing import Any

import torch

from streamfit.errors import UserError
from streamfit.training.optimizers import learning_rate, set_learning_rate


class Callback:
    """Base class: every hook does nothing until overridden."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each training batch; by default calls `on_batch_begin` (Keras' alias)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each training batch; by default calls `on_batch_end` (Keras' alias)."""
        self.on_batch_end(batch, logs)

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state that a checkpoint needs to resume this callback exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        for key, value in state.items():
            setattr(self, key, value)

    def tensor_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that a checkpoint needs besides `state_dict`, by name."""
        return {}

    def load_tensor_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what `tensor_state_dict` returned."""


_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


class CallbackList:
    """Calls each hook on every callback, in order.

    Args:
        callbacks: the callbacks.
        model: given to each callback's `set_model`.
        params: given to each callback's `set_params`.
    """

    def __init__(self, callbacks: list[Callback] | None = None, model: Any = None,
                 params: dict[str, Any] | None = None):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise UserError(
                    f"callbacks= holds a {type(callback).__name__}; each callback must "
                    "subclass streamfit.training.callbacks.Callback")
            if model is not None:
                callback.set_model(model)
            if params is not None:
                callback.set_params(params)

    def wants_batch_logs(self, phase: str) -> bool:
        """Whether any callback overrides a batch hook of `phase` ("train", "test", "predict").

        Batch logs cost a wait for the device, so the loop builds them only
        when someone reads them.
        """
        return any(getattr(type(cb), hook) is not getattr(Callback, hook)
                   for cb in self.callbacks for hook in _BATCH_HOOKS[phase])

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs)
    def on_train_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs)
    def on_test_batch_begin(self, batch, logs=None): self._call("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs)
    def on_predict_batch_begin(self, batch, logs=None): self._call("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._call("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records epoch logs; `fit` returns it.

    Attributes:
        history: `{"loss": [...], "accuracy": [...], "val_loss": [...], ...}`,
            one value per epoch run.
        epoch: the (0-based) indices of the epochs run, from `initial_epoch`.
        data_wait: per epoch, the fraction of training time spent waiting for
            batches (0 to 1). Kept out of `history` so that code iterating
            metrics sees only metrics.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.data_wait: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _maximizes(monitor: str, mode: str) -> bool:
    """Whether a monitored value improves upward ("max"); "auto" reads the name."""
    if mode not in ("auto", "min", "max"):
        raise UserError(f"mode={mode!r} is not a mode; use 'auto', 'min' or 'max'")
    if mode == "auto":
        return "acc" in monitor or "auc" in monitor
    return mode == "max"


def _monitored(logs: dict | None, monitor: str, who: str) -> float | None:
    value = (logs or {}).get(monitor)
    if value is None:
        # A missing key (no validation data, a typo) skips the epoch, as in Keras.
        warnings.warn(f"{who} monitors {monitor!r}, which is not in the logs "
                      f"({sorted(logs or {})}); the epoch is skipped", stacklevel=3)
    return value


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


class EarlyStopping(Callback):
    """Stop training when a monitored value stops improving.

    Args:
        monitor: the log key, e.g. "val_loss" or "val_accuracy".
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: "min", "max", or "auto" (max when the name holds "acc" or "auc").
        restore_best_weights: at the end of training, load the weights of the
            best epoch (Keras 3: also when training ran out of epochs).
        baseline: the value to beat; improvements that do not beat it do not
            reset the patience.
        verbose: 1 prints when it stops.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False):
        super().__init__()
        self.monitor = monitor
        self.maximize = _maximizes(monitor, mode)
        self.min_delta = abs(min_delta)
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

    def _improves(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        return (value - self.min_delta > reference if self.maximize
                else value + self.min_delta < reference)

    def on_train_begin(self, logs=None):
        self._reset()
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(logs, self.monitor, "EarlyStopping")
        if current is None:
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


class ModelCheckpoint(Callback):
    """Save the model (`Model.save`) at the end of each epoch.

    Args:
        filepath: where to save; may hold fields filled from the epoch (1-based)
            and the logs, e.g. "ckpt/{epoch:02d}-{val_loss:.2f}".
        monitor: the log key compared with `save_best_only`.
        verbose: 1 prints each save.
        save_best_only: save only when `monitor` improves on its best so far.
        mode: "min", "max" or "auto" (max when the name holds "acc" or "auc").
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, mode: str = "auto"):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.maximize = _maximizes(monitor, mode)
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
        if self.save_best_only:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            if current is None:
                return
            improved = self.best is None or (current > self.best if self.maximize else current < self.best)
            if not improved:
                return
            self.best = current
        path = self._path(epoch, logs)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        self.model.save(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}


class CSVLogger(Callback):
    """Write one CSV row per epoch: `epoch`, then the log keys in sorted order.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file (no second header) instead of
            overwriting it.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None
        self._write_header = True
        self._mode = "w"
        self._written: int | None = None

    def on_train_begin(self, logs=None):
        # The file opens at the first row, so that a resumed run can first cut
        # the rows written after its checkpoint (load_state_dict).
        self._write_header = not (self.append and os.path.exists(self.filename)
                                  and os.path.getsize(self.filename) > 0)
        self._mode = "a" if self.append else "w"
        self._file = None
        self._writer = None
        self.keys = None
        self._written = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:
            self._file = open(self.filename, self._mode, newline="")  # noqa: SIM115
        if self._writer is None:
            if self.keys is None:
                self.keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(logs.get(key, "NA") for key in self.keys)])
        self._file.flush()
        self._written = self._file.tell()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None

    def state_dict(self) -> dict[str, Any]:
        """The columns and the file's size after the last row written, for a checkpoint."""
        return {"keys": self.keys, "written": self._written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Drop the rows written after the checkpoint; the next rows follow the saved ones."""
        self.keys, self._written = state["keys"], state["written"]
        if self._written is None:
            return
        if os.path.exists(self.filename) and os.path.getsize(self.filename) >= self._written:
            with open(self.filename, "r+b") as file:
                file.truncate(self._written)
        self._mode = "a"
        self._write_header = False


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
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = learning_rate(self.model.optimizer)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when a monitored value stops improving.

    Args:
        monitor: the log key.
        factor: the multiplier, below 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto" (max when the name holds "acc").
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.

    Raises:
        UserError: factor >= 1.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if factor >= 1.0:
            raise UserError(f"ReduceLROnPlateau(factor={factor}) must be below 1 to reduce the rate")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.maximize = _maximizes(monitor, mode)
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        return (value > self.best + self.min_delta if self.maximize
                else value < self.best - self.min_delta)

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = learning_rate(self.model.optimizer)
        current = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        if current is None:
            return
        in_cooldown = self.cooldown_counter > 0
        if in_cooldown:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best = current
            self.wait = 0
        elif not in_cooldown:
            self.wait += 1
            if self.wait >= self.patience:
                old = learning_rate(self.model.optimizer)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    set_learning_rate(self.model.optimizer, new)
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
