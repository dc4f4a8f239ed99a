"""Module classes that `load_model` may rebuild from their saved config.

Saved models hold no pickle, so a module is rebuilt from its class name and
`get_config()`; only classes registered here can be named::

    @register_module
    class Mlp(torch.nn.Module):
        def __init__(self, features: int, classes: int): ...
        def get_config(self) -> dict:
            return {"features": self.features, "classes": self.classes}

`load_model` calls `Mlp(**config)`, or `Mlp.from_config(config)` when the
class defines it.
"""

from __future__ import annotations

import torch

from streamfit.errors import UserError

_MODULES: dict[str, type[torch.nn.Module]] = {}


def register_module(cls: type[torch.nn.Module] | None = None, *, name: str | None = None):
    """Register a module class (a decorator, with or without `name=`).

    Args:
        cls: the `torch.nn.Module` subclass.
        name: the name saved in `model.json`; the class name by default.

    Returns:
        The class, unchanged (or a decorator when called with `name=` only).

    Raises:
        UserError: another class already holds the name. Registering the same
            class again (a module imported twice) replaces it.
    """
    def register(klass: type[torch.nn.Module]) -> type[torch.nn.Module]:
        key = name or klass.__name__
        known = _MODULES.get(key)
        if known is not None and (known.__module__, known.__qualname__) != (klass.__module__, klass.__qualname__):
            raise UserError(
                f"register_module: {key!r} is already {known.__module__}.{known.__qualname__}; "
                f"register {klass.__module__}.{klass.__qualname__} with another name=")
        _MODULES[key] = klass
        return klass

    return register if cls is None else register(cls)


def registered_name(cls: type) -> str | None:
    """The name `cls` is registered under, or None."""
    return next((key for key, known in _MODULES.items() if known is cls), None)


def module_class(name: str) -> type[torch.nn.Module] | None:
    """The class registered as `name`, or None."""
    return _MODULES.get(name)
