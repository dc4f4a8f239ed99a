"""`Callback`, the base class with every hook, and `CallbackList`, which calls them in order."""

from __future__ import annotations

from typing import Any

import torch

from streamfit.errors import OptionError, UserError
from streamfit.training.stateful import json_ready


def check_frequency(option: str, value: Any, unit: str, named: str = "'epoch'") -> str | int:
    """A `save_freq` / `update_freq`: "epoch" or an integer >= 1 (Keras' two kinds).

    Args:
        option: the argument, for the message.
        value: what was given.
        unit: what the integer counts ("batches", "steps").
        named: the names accepted besides integers, for the message.

    Raises:
        OptionError: e.g. `save_freq=0 is not a frequency; use 'epoch' or a number of batches >= 1`.
    """
    if value == "epoch" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise OptionError(option, value, f"is not a frequency; use {named} or a number of {unit} >= 1")


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


def _overrides(callback: Callback, hook: str) -> bool:
    """Whether `callback`'s `hook` is its own: a method of a subclass, or a function it holds."""
    method = getattr(callback, hook)
    return getattr(method, "__func__", method) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on every callback, in order; their state by key for checkpoints.

    A callback's key is its class and its rank among those of its class
    (`"EarlyStopping#0"`), so a resumed run must pass the same callbacks in
    the same order.

    Args:
        callbacks: the callbacks.
        model: given to each callback's `set_model`.
        params: given to each callback's `set_params`.

    Raises:
        UserError: an item that is not a `Callback`.
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
        return any(_overrides(cb, hook) for cb in self.callbacks for hook in _BATCH_HOOKS[phase])

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

    def _keyed(self) -> list[tuple[str, Callback]]:
        seen: dict[str, int] = {}
        keyed = []
        for callback in self.callbacks:
            name = type(callback).__name__
            keyed.append((f"{name}#{seen.get(name, 0)}", callback))
            seen[name] = seen.get(name, 0) + 1
        return keyed

    @staticmethod
    def _stateful(callback: Callback) -> bool:
        return bool(callback.state_dict() or callback.tensor_state_dict())

    def state_dict(self) -> dict[str, Any]:
        """`{key: state_dict()}` of each callback that has state (JSON or tensors).

        Raises:
            UserError: a callback's `state_dict()` that JSON cannot hold.
        """
        return {key: json_ready(callback.state_dict(), f"{type(callback).__name__}.state_dict()")
                for key, callback in self._keyed() if self._stateful(callback)}

    def tensor_state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """`{key: tensor_state_dict()}` (on the CPU) for the keys of `state_dict()`."""
        return {key: {name: value.detach().cpu() for name, value in callback.tensor_state_dict().items()}
                for key, callback in self._keyed() if self._stateful(callback)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Give each callback its saved state.

        Raises:
            UserError: state for a callback this list lacks, or a stateful
                callback the state does not know.
        """
        saved = dict(state)
        for key, callback in self._keyed():
            if key in saved:
                callback.load_state_dict(saved.pop(key))
            elif self._stateful(callback):
                raise UserError(
                    f"it holds no state for the callback {key.replace('#', ' #')}; pass the "
                    "callbacks the checkpointed run had")
        if saved:
            raise UserError(
                f"it holds state of the callback {next(iter(saved)).replace('#', ' #')}, which "
                "this run lacks; pass the callbacks the checkpointed run had")

    def load_tensor_state_dict(self, tensors: dict[str, dict[str, torch.Tensor]]) -> None:
        """Give each callback its saved tensors (after `load_state_dict` checked the keys)."""
        for key, callback in self._keyed():
            if key in tensors:
                callback.load_tensor_state_dict(tensors[key])
