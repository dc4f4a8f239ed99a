"""Metrics by name, and the running means that turn batches into epoch values.

A metric is `fn(output, target) -> scalar` over one batch (a tensor with more
than one value is averaged). Epoch values are means over batches weighted by
the batch's row count, so accuracy over an epoch is exactly correct rows /
rows, whatever the size of the last batch. Metrics ignore sample and class
weights, as Keras' `metrics=` do.

`"accuracy"` (or `"acc"`; the log key is the name you gave) follows the loss:

- multiclass losses: argmax of the logits against the class id, or against
  the argmax of a one-hot target;
- `binary_crossentropy`: logit > 0 against target > 0.5;
- other losses: argmax when the output has more than one column, else exact
  equality of output and target (Keras' `Accuracy`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from streamfit.errors import OptionError, UserError
from streamfit.training.losses import BINARY, MULTICLASS, Loss


@dataclass(frozen=True)
class Metric:
    """A named metric: `fn(output, target) -> scalar` over one batch."""

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor | float]
    spec: str | None


def _argmax_accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    predicted = output.argmax(dim=-1)
    if target.shape == output.shape:
        target = target.argmax(dim=-1)
    elif target.dim() == output.dim():
        target = target.squeeze(-1)
    return (predicted == target.to(predicted.dtype)).float().mean()


def _binary_accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((output > 0) == (target.reshape(output.shape) > 0.5)).float().mean()


def _accuracy_for(kind: str | None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == MULTICLASS:
        return _argmax_accuracy
    if kind == BINARY:
        return _binary_accuracy

    def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if output.dim() >= 2 and output.shape[-1] > 1:
            return _argmax_accuracy(output, target)
        return (output == target.reshape(output.shape).to(output.dtype)).float().mean()

    return accuracy


def get_metrics(specs: list | tuple | None, loss: Loss | None) -> list[Metric]:
    """Resolve metric names and callables.

    Args:
        specs: names (`"accuracy"`, `"acc"`) or callables `(output, target) ->
            scalar`; a callable's log key is its `__name__` (or its class name).
        loss: the resolved loss, which decides how accuracy reads outputs.

    Returns:
        One `Metric` per spec, in order.

    Raises:
        OptionError: an unknown name or a non-callable.
        UserError: two metrics with one name.
    """
    kind = loss.kind if loss is not None else None
    metrics = []
    for spec in specs or []:
        if isinstance(spec, str):
            if spec not in ("accuracy", "acc"):
                raise OptionError("metrics", specs, f"holds {spec!r}, which is not a known metric; "
                                  "use 'accuracy' (or 'acc') or a callable(output, target) -> scalar")
            metrics.append(Metric(spec, _accuracy_for(kind), spec))
        elif callable(spec):
            name = getattr(spec, "__name__", type(spec).__name__)
            metrics.append(Metric(name, spec, None))
        else:
            raise OptionError("metrics", specs, f"holds {spec!r}; a metric must be a name or a callable")
    names = [m.name for m in metrics]
    if len(set(names)) != len(names) or "loss" in names:
        raise UserError(f"metrics= gives the log names {names}; each must be unique and not 'loss'")
    return metrics


class RunningMeans:
    """Means of per-batch values weighted by rows, kept on the device.

    Sums stay tensors so that a training step does not wait for the
    accelerator; `result()` reads them once.

    Args:
        sums: `{name: sum of value * rows}` to start from (tensors or floats).
        rows: the rows those sums hold.
    """

    def __init__(self, sums: dict[str, torch.Tensor | float] | None = None, rows: int = 0) -> None:
        self.sums: dict[str, torch.Tensor | float] = dict(sums or {})
        self.rows = rows

    def update(self, values: dict[str, torch.Tensor | float], rows: int) -> None:
        """Add one batch's values, each weighted by its `rows`."""
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float().mean()
            self.sums[name] = self.sums.get(name, 0.0) + value * rows
        self.rows += rows

    def result(self) -> dict[str, float]:
        """The means so far, as Python floats (empty before the first batch)."""
        return {name: float(total) / self.rows for name, total in self.sums.items()} if self.rows else {}

    def state_dict(self) -> dict[str, Any]:
        """`{"rows": int, "floats": {name: sum}}`: the rows and the sums that are not tensors."""
        return {"rows": self.rows, "floats": {name: float(value) for name, value in self.sums.items()
                                              if not isinstance(value, torch.Tensor)}}

    def tensor_state_dict(self) -> dict[str, torch.Tensor]:
        """The sums that are tensors (read without waiting for the device), on the CPU."""
        return {name: value.detach().cpu() for name, value in self.sums.items()
                if isinstance(value, torch.Tensor)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()`'s rows and float sums (the tensor sums follow)."""
        self.sums = dict(state["floats"])
        self.rows = int(state["rows"])

    def load_tensor_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Add back the tensor sums, on the device they are given on."""
        self.sums.update(tensors)
