"""The one registry of module classes: by the name `load_model` rebuilds, and by model kind.

Saved models hold no pickle, so a module is rebuilt from its registered name
and `get_config()`; only classes registered here can be named::

    @register_module
    class Mlp(torch.nn.Module):
        def __init__(self, features: int, classes: int): ...
        def get_config(self) -> dict:
            return {"features": self.features, "classes": self.classes}

`load_model` calls `Mlp(**config)`, or `Mlp.from_config(config)` when the
class defines it. The built-in models are registered under their class name
(what `model.json` holds) and their model kind ("mlp", "sepcnn",
"fasttext": what `build_model` and bundles name), in `streamfit.models`.
"""

from __future__ import annotations

from types import MappingProxyType

import torch

from streamfit.errors import UserError

_MODULES: dict[str, type[torch.nn.Module]] = {}
_KINDS: dict[str, type[torch.nn.Module]] = {}

MODEL_KINDS = MappingProxyType(_KINDS)
"""Model kind -> class, read-only: the classes `build_model` builds."""


def register_module(cls: type[torch.nn.Module] | None = None, *, name: str | None = None,
                    kind: str | None = None):
    """Register a module class (a decorator, with or without keywords).

    Args:
        cls: the `torch.nn.Module` subclass.
        name: the name saved in `model.json`; the class name by default.
        kind: also a model kind, for `build_model(kind, ...)` (the built-in
            models' "mlp", "sepcnn", "fasttext").

    Returns:
        The class, unchanged (or a decorator when called with keywords only).

    Raises:
        UserError: another class already holds the name or the kind.
            Registering the same class again (a module imported twice)
            replaces it.
    """
    def register(klass: type[torch.nn.Module]) -> type[torch.nn.Module]:
        key = name or klass.__name__
        _check_free(_MODULES, key, klass, "name")
        if kind is not None:
            _check_free(_KINDS, kind, klass, "kind")
            _KINDS[kind] = klass
        _MODULES[key] = klass
        return klass

    return register if cls is None else register(cls)


def _check_free(table: dict[str, type], key: str, klass: type, what: str) -> None:
    known = table.get(key)
    if known is not None and (known.__module__, known.__qualname__) != (klass.__module__, klass.__qualname__):
        raise UserError(
            f"register_module: {key!r} is already {known.__module__}.{known.__qualname__}; "
            f"register {klass.__module__}.{klass.__qualname__} with another {what}=")


def registered_name(cls: type) -> str | None:
    """The name `cls` is registered under, or None."""
    return next((key for key, known in _MODULES.items() if known is cls), None)


def module_class(name: str) -> type[torch.nn.Module] | None:
    """The class registered as `name`, or None."""
    return _MODULES.get(name)
