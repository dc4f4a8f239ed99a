"""Loss functions by name, computed per sample so that weights can apply.

Every loss here returns one value per sample (shape `(batch,)`); the trainer
multiplies by the sample and class weights and reduces the way Keras'
"sum_over_batch_size" does: `sum(weight * loss) / batch_size`. With uniform
weights `w` the batch loss is therefore exactly `w` times the unweighted one.

| name | target | module output | predict returns |
| --- | --- | --- | --- |
| `sparse_categorical_crossentropy` | integer class ids, `(batch,)` | logits `(batch, classes)` | softmax |
| `categorical_crossentropy` | one-hot or soft labels | logits `(batch, classes)` | softmax |
| `binary_crossentropy` | 0/1, `(batch,)` or `(batch, 1)` | one logit per row | sigmoid |
| `mse` | floats, the output's shape | values | the output |
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from streamfit.errors import OptionError

MULTICLASS = "multiclass"
BINARY = "binary"
REGRESSION = "regression"


@dataclass(frozen=True)
class Loss:
    """A loss as the trainer uses it.

    Attributes:
        name: the registry name, or None for a user callable (not saved).
        fn: `fn(output, target) -> tensor`; per-sample `(batch,)` for the
            built-in losses, whatever the callable returns otherwise.
        kind: `MULTICLASS`, `BINARY`, `REGRESSION`, or None when unknown
            (a callable); it decides accuracy, class indices and `predict`.
    """

    name: str | None
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    kind: str | None

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """Map module outputs to what `predict` returns (softmax, sigmoid, or as is)."""
        if self.kind == MULTICLASS:
            return torch.softmax(output, dim=-1)
        if self.kind == BINARY:
            return torch.sigmoid(output)
        return output


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """Average every axis but the batch axis (Keras averages the last axes)."""
    return values.reshape(values.shape[0], -1).mean(dim=1) if values.dim() > 1 else values


def _like_output(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Give a float target the output's shape, so `(batch,)` targets fit `(batch, 1)` logits."""
    target = target.to(output.dtype)
    if target.shape != output.shape and target.numel() == output.numel():
        target = target.reshape(output.shape)
    return target


def sparse_categorical_crossentropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits `(batch, classes)` against integer class ids `(batch,)`."""
    if target.dim() == output.dim() and target.shape[-1] == 1:
        target = target.squeeze(-1)
    return _per_sample(F.cross_entropy(output, target.long(), reduction="none"))


def categorical_crossentropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits `(batch, classes)` against one-hot or soft targets."""
    target = _like_output(target, output)
    return _per_sample(-(target * torch.log_softmax(output, dim=-1)).sum(dim=-1))


def binary_crossentropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of logits (the sigmoid is applied here) against 0/1 targets."""
    target = _like_output(target, output)
    return _per_sample(F.binary_cross_entropy_with_logits(output, target, reduction="none"))


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per sample."""
    return _per_sample((output - _like_output(target, output)) ** 2)


_LOSSES: dict[str, tuple[Callable, str]] = {
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, MULTICLASS),
    "categorical_crossentropy": (categorical_crossentropy, MULTICLASS),
    "binary_crossentropy": (binary_crossentropy, BINARY),
    "mse": (mse, REGRESSION),
    "mean_squared_error": (mse, REGRESSION),
}


def get_loss(spec: str | Callable | None) -> Loss | None:
    """Resolve a loss name or callable.

    Args:
        spec: a name from the table above, a callable `(output, target) ->
            tensor`, or None (a model for prediction only). A torch loss module
            with a `reduction` attribute (`torch.nn.CrossEntropyLoss()`) is
            copied with `reduction="none"` so that sample and class weights
            apply per sample; other callables may return per-sample values or
            a scalar (then weights cannot apply).

    Returns:
        The `Loss`, or None for None.

    Raises:
        OptionError: an unknown name or a non-callable.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in _LOSSES:
            raise OptionError("loss", spec, f"is not a known loss; use one of {sorted(_LOSSES)} "
                              "or a callable(output, target) -> tensor")
        fn, kind = _LOSSES[spec]
        return Loss(spec, fn, kind)
    if not callable(spec):
        raise OptionError("loss", spec, "is neither a loss name nor a callable(output, target)")
    if isinstance(spec, torch.nn.Module) and hasattr(spec, "reduction"):
        spec = copy.copy(spec)
        spec.reduction = "none"
    return Loss(None, spec, None)
