"""`LambdaCallback`: a callback made of plain functions, one per hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamfit.errors import UserError
from streamfit.training.callbacks.callback import Callback

#: The hooks a function may be given for, as `Callback` names them.
HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """Call the functions given for each hook, as Keras' `LambdaCallback`.

    Each function takes what its hook takes: `on_epoch_begin(epoch, logs)`,
    `on_epoch_end(epoch, logs)`, `on_train_begin(logs)`, `on_train_end(logs)`,
    `on_batch_begin(batch, logs)` (Keras 2's name) or `on_train_batch_begin`
    (Keras 3's), and so on for every hook of `Callback`. Hooks not given do
    nothing.

    Example:
        >>> import json
        >>> log = open("epochs.jsonl", "w")  # doctest: +SKIP
        >>> LambdaCallback(on_epoch_end=lambda epoch, logs: log.write(json.dumps(logs) + "\\n"),
        ...                on_train_end=lambda logs: log.close())  # doctest: +SKIP

    Args:
        on_epoch_begin, on_epoch_end, on_train_begin, on_train_end,
        on_train_batch_begin, on_train_batch_end, on_batch_begin, on_batch_end:
            the functions (None: nothing).
        **hooks: functions for the other hooks (`on_test_begin=`, ...).

    Raises:
        UserError: a keyword that names no hook (Keras would keep it as an
            attribute and never call it), or a value that is not callable.
    """

    def __init__(self, on_epoch_begin: Callable | None = None,
                 on_epoch_end: Callable | None = None, on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None,
                 on_train_batch_end: Callable | None = None,
                 on_batch_begin: Callable | None = None, on_batch_end: Callable | None = None,
                 **hooks: Callable):
        super().__init__()
        for name in hooks:
            if name not in HOOKS:
                raise UserError(f"LambdaCallback has no hook {name}=; give one of {', '.join(HOOKS)}")
        given: dict[str, Any] = {
            "on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin, "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin, "on_train_batch_end": on_train_batch_end,
            "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end, **hooks}
        for name, function in given.items():
            if function is None:
                continue
            if not callable(function):
                raise UserError(f"LambdaCallback({name}={function!r}) is not callable; give a "
                                "function of the hook's arguments")
            setattr(self, name, function)
