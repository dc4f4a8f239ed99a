"""Optimizers by name, with Keras' default hyper-parameters.

| name | torch class | defaults (Keras') |
| --- | --- | --- |
| `adam` | `Adam` | lr 1e-3, eps 1e-7 |
| `sgd` | `SGD` | lr 0.01 |
| `rmsprop` | `RMSprop` | lr 1e-3, alpha (Keras' rho) 0.9, eps 1e-7 |
| `adamw` | `AdamW` | lr 1e-3, weight decay 0.004, eps 1e-7 |
| `adagrad` | `Adagrad` | lr 1e-3, initial accumulator 0.1, eps 1e-7 |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from streamfit.errors import OptionError, UserError

_OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "adam": (torch.optim.Adam, {"lr": 1e-3, "eps": 1e-7}),
    "sgd": (torch.optim.SGD, {"lr": 0.01}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}),
    "adamw": (torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.004, "eps": 1e-7}),
    "adagrad": (torch.optim.Adagrad, {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7}),
}


def get_optimizer(spec: str | torch.optim.Optimizer | Callable | None,
                  params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer | None:
    """Build the optimizer for a module's parameters.

    Args:
        spec: a name from the table above, a ready `torch.optim.Optimizer`
            (used as is: it must already hold the module's parameters), a
            factory `params -> optimizer` such as
            `lambda p: torch.optim.Adam(p, lr=3e-4)`, or None (no training).
        params: the parameters a name or factory optimizes.

    Returns:
        The optimizer, or None for None.

    Raises:
        OptionError: an unknown name, or a factory that returns no optimizer.
    """
    if spec is None or isinstance(spec, torch.optim.Optimizer):
        return spec
    if isinstance(spec, str):
        if spec.lower() not in _OPTIMIZERS:
            raise OptionError(
                "optimizer", spec, f"is not a known optimizer; use one of {sorted(_OPTIMIZERS)}, "
                "a torch.optim.Optimizer, or a factory lambda params: torch.optim.Adam(params)")
        cls, defaults = _OPTIMIZERS[spec.lower()]
        return cls(params, **defaults)
    if callable(spec):
        optimizer = spec(params)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise UserError(
                f"optimizer= factory returned {type(optimizer).__name__}, not a "
                "torch.optim.Optimizer; write lambda params: torch.optim.Adam(params, lr=...)")
        return optimizer
    raise OptionError("optimizer", spec, "is neither a name, an optimizer nor a factory")


def learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
