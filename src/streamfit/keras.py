"""Keras 3 users' entry point: `streamfit.keras.fit_generator(model, ...)`, `as_pydataset`.

Keras is optional: `import streamfit.keras` always works, and the first use
of a name below imports Keras (see `streamfit.interop.keras`), raising a
`UserError` that says `pip install keras` when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamfit.interop.keras import (
        KerasBatches,
        PulledBatches,
        as_pydataset,
        fit_generator,
        to_keras_batch,
    )

__all__ = ["KerasBatches", "PulledBatches", "as_pydataset", "fit_generator", "to_keras_batch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from streamfit.interop import keras as bridge
        return getattr(bridge, name)
    raise AttributeError(f"module 'streamfit.keras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
