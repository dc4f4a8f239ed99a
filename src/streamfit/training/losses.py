"""Loss functions by name, computed per element so that weights can apply.

Every built-in loss reduces the last axis only, as Keras' losses do: outputs
`(batch, classes)` give one value per sample `(batch,)`, per-token outputs
`(batch, maxlen, classes)` one per token `(batch, maxlen)`. The trainer
multiplies by the sample and class weights and reduces the way Keras'
"sum_over_batch_size" does: `sum(weight * loss) / number of loss values`.
With uniform weights `w` the batch loss is therefore exactly `w` times the
unweighted one. `loss_weights` multiplies the result.

| name (aliases) | target | module output | predict returns |
| --- | --- | --- | --- |
| `sparse_categorical_crossentropy` | class ids, the output's shape without its last axis | `(..., classes)` | softmax |
| `categorical_crossentropy` | one-hot or soft labels, the output's shape | `(..., classes)` | softmax |
| `binary_crossentropy` | 0/1 (or soft), `(batch,)` or the output's shape | one column per label | sigmoid |
| `binary_focal_crossentropy` | as `binary_crossentropy` (gamma 2, no class balancing) | as `binary_crossentropy` | sigmoid |
| `mse` (`mean_squared_error`) | floats, the output's shape | values | the output |
| `mae` (`mean_absolute_error`) | floats, the output's shape | values | the output |
| `huber` (`huber_loss`; delta 1.0) | floats, the output's shape | values | the output |
| `kld` (`kl_divergence`, `kullback_leibler_divergence`) | a distribution | a distribution | the output |

The classes are always on the last axis (never torch's `dim=1`), so a
tagger's `(batch, maxlen, classes)` output trains against `(batch, maxlen)`
ids even when `maxlen == classes`.

What the module returns (the crossentropies and the focal loss):

- logits (no final activation), streamfit's default;
- probabilities, from a final `nn.Sigmoid` / `nn.Softmax` (Keras' default,
  `from_logits=False`): the loss clips them to `[1e-7, 1 - 1e-7]` as Keras
  does, `predict` returns them as they are and accuracy thresholds at 0.5;
- log-probabilities, from a final `nn.LogSoftmax`: the loss is the negative
  log-likelihood and `predict` returns their `exp`.

Unless `from_logits=` is given (`BinaryCrossentropy(from_logits=True)`, or
the other classes below), the first batch decides (`detect_output`): the layer
that produced the returned tensor, else, for several columns, values in
[0, 1] whose rows sum to 1 (or log-probabilities whose `exp` does). A choice
other than logits is announced once with a `ProbabilityOutputWarning`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from streamfit.errors import OptionError, UserError, check_number

MULTICLASS = "multiclass"
BINARY = "binary"
REGRESSION = "regression"

LOGITS = "logits"
PROBABILITIES = "probabilities"
LOG_PROBABILITIES = "log_probabilities"
OUTPUTS = (LOGITS, PROBABILITIES, LOG_PROBABILITIES)

#: Keras' `backend.epsilon()`: probabilities are clipped to [EPSILON, 1 - EPSILON].
EPSILON = 1e-7


class ProbabilityOutputWarning(UserWarning):
    """streamfit found a module that returns probabilities and chose the loss to match."""


@dataclass(frozen=True)
class Loss:
    """A loss as the trainer uses it.

    Attributes:
        name: the registry name, or None for a user callable (not saved).
        fn: `fn(output, target) -> tensor`; per element (the last axis
            reduced) for the built-in losses, whatever the callable returns
            otherwise.
        kind: `MULTICLASS`, `BINARY`, `REGRESSION`, or None when unknown
            (a callable); it decides accuracy, class indices and `predict`.
        output: what the module returns as the loss reads it: `LOGITS`,
            `PROBABILITIES` or `LOG_PROBABILITIES`; None until the first
            batch decides (`detect_output`).
        settled: whether the output was checked on a batch (`detect_output`).
        weight: `loss_weights`' factor on the batch loss.
        options: the built-in loss's settings (`gamma`, `delta`, ...).
    """

    name: str | None
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    kind: str | None
    output: str | None = LOGITS
    settled: bool = True
    weight: float = 1.0
    options: dict = field(default_factory=dict)

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """Map module outputs to what `predict` returns (softmax, sigmoid, exp, or as is)."""
        if self.kind not in (MULTICLASS, BINARY) or self.output == PROBABILITIES:
            return output
        if self.output == LOG_PROBABILITIES:
            return output.exp()
        return torch.softmax(output, dim=-1) if self.kind == MULTICLASS else torch.sigmoid(output)

    def with_output(self, output: str) -> Loss:
        """This loss reading `output` (one of `OUTPUTS`), checked."""
        fn = functools.partial(_LOSSES[self.name][0], output_kind=output, **self.options)
        return dataclasses.replace(self, fn=fn, output=output, settled=True)

    def saved(self) -> dict[str, Any]:
        """The settings `model.json` keeps beside the name: output, weight and options."""
        return {"output": self.output, "weight": self.weight, **self.options}


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def _classes_last(output: torch.Tensor, name: str) -> None:
    if output.dim() < 2:
        raise UserError(f"{name} needs outputs with the classes on the last axis, (batch, classes) "
                        f"or (batch, maxlen, classes), but the module returned shape {_shape(output)}")


def _class_ids(output: torch.Tensor, target: torch.Tensor, name: str) -> torch.Tensor:
    """Integer targets with the output's shape less its class axis, or a UserError saying why not."""
    _classes_last(output, name)
    if target.dim() == output.dim() and target.shape[-1] == 1:
        target = target.squeeze(-1)
    if target.shape == output.shape[:-1]:
        return target.long()
    if target.shape == output.shape:
        fix = "these look one-hot: use categorical_crossentropy, or pass class ids"
    elif target.dim() >= output.dim() - 1 and target.shape[0] == output.shape[0]:
        fix = (f"for one class per token, of targets (batch, maxlen), the module must return "
               f"(batch, maxlen, classes): here {(*target.shape, output.shape[-1])}, the classes last")
    else:
        fix = "give one class id per output row"
    raise UserError(f"{name}: the module's outputs have shape {_shape(output)}, so the targets need "
                    f"shape {_shape(output)[:-1]} (one class id per row of classes), but they "
                    f"have shape {_shape(target)}; {fix}")


def _like_output(target: torch.Tensor, output: torch.Tensor, name: str) -> torch.Tensor:
    """A float target in the output's shape (`(batch,)` fits `(batch, 1)`), or a UserError."""
    target = target.to(output.dtype)
    if target.shape != output.shape and target.numel() == output.numel() \
            and target.shape[:1] == output.shape[:1]:
        target = target.reshape(output.shape)
    if target.shape != output.shape:
        raise UserError(f"{name} needs targets of the output's shape {_shape(output)}, but they have "
                        f"shape {_shape(target)}; make the module return one value per target value")
    return target


def _last_axis_mean(values: torch.Tensor) -> torch.Tensor:
    """Keras' mean over the last axis, leaving one value per row (or per token)."""
    return values.mean(dim=-1) if values.dim() > 1 else values


def _log_probabilities(output: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == PROBABILITIES:  # Keras: renormalise, clip, log
        output = output / output.sum(dim=-1, keepdim=True)
        return output.clamp(EPSILON, 1.0 - EPSILON).log()
    if kind == LOG_PROBABILITIES:
        return output
    return torch.log_softmax(output, dim=-1)


def _binary_probabilities(output: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == LOGITS:
        return torch.sigmoid(output)
    return output.exp() if kind == LOG_PROBABILITIES else output


def sparse_categorical_crossentropy(output: torch.Tensor, target: torch.Tensor,
                                    output_kind: str = LOGITS) -> torch.Tensor:
    """Cross-entropy of `(..., classes)` outputs against class ids `(...)`, per row or token."""
    name = "sparse_categorical_crossentropy"
    target = _class_ids(output, target, name)
    flat = output.reshape(-1, output.shape[-1])
    if output_kind == LOGITS:
        values = F.cross_entropy(flat, target.reshape(-1), reduction="none")
    else:
        values = F.nll_loss(_log_probabilities(flat, output_kind), target.reshape(-1), reduction="none")
    return values.reshape(target.shape)


def categorical_crossentropy(output: torch.Tensor, target: torch.Tensor,
                             output_kind: str = LOGITS) -> torch.Tensor:
    """Cross-entropy of `(..., classes)` outputs against one-hot or soft targets of that shape."""
    _classes_last(output, "categorical_crossentropy")
    target = _like_output(target, output, "categorical_crossentropy")
    return -(target * _log_probabilities(output, output_kind)).sum(dim=-1)


def binary_crossentropy(output: torch.Tensor, target: torch.Tensor,
                        output_kind: str = LOGITS) -> torch.Tensor:
    """Binary cross-entropy against 0/1 targets, averaged over the last axis."""
    target = _like_output(target, output, "binary_crossentropy")
    if output_kind == LOGITS:
        values = F.binary_cross_entropy_with_logits(output, target, reduction="none")
    else:
        probabilities = _binary_probabilities(output, output_kind).clamp(EPSILON, 1.0 - EPSILON)
        values = F.binary_cross_entropy(probabilities, target, reduction="none")
    return _last_axis_mean(values)


def binary_focal_crossentropy(output: torch.Tensor, target: torch.Tensor,
                              output_kind: str = LOGITS, gamma: float = 2.0, alpha: float = 0.25,
                              apply_class_balancing: bool = False) -> torch.Tensor:
    """Keras 3's focal loss: `(1 - p_t) ** gamma` times the binary cross-entropy."""
    target = _like_output(target, output, "binary_focal_crossentropy")
    probabilities = _binary_probabilities(output, output_kind)
    values = F.binary_cross_entropy(probabilities.clamp(EPSILON, 1.0 - EPSILON), target,
                                    reduction="none")
    p_t = target * probabilities + (1 - target) * (1 - probabilities)
    values = (1.0 - p_t) ** gamma * values
    if apply_class_balancing:
        values = (target * alpha + (1 - target) * (1 - alpha)) * values
    return _last_axis_mean(values)


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the last axis."""
    return _last_axis_mean((output - _like_output(target, output, "mse")) ** 2)


def mae(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the last axis."""
    return _last_axis_mean((output - _like_output(target, output, "mae")).abs())


def huber(output: torch.Tensor, target: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Huber loss: squared below `delta`, linear above, averaged over the last axis."""
    error = (output - _like_output(target, output, "huber")).abs()
    return _last_axis_mean(torch.where(error <= delta, 0.5 * error ** 2,
                                       delta * error - 0.5 * delta ** 2))


def kld(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Kullback-Leibler divergence of the output distribution from the target's (both clipped)."""
    target = _like_output(target, output, "kld").clamp(EPSILON, 1.0)
    return (target * (target / output.clamp(EPSILON, 1.0)).log()).sum(dim=-1)


#: name -> (function, kind, reads logits or probabilities, default options).
_LOSSES: dict[str, tuple[Callable, str, bool, dict]] = {
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, MULTICLASS, True, {}),
    "categorical_crossentropy": (categorical_crossentropy, MULTICLASS, True, {}),
    "binary_crossentropy": (binary_crossentropy, BINARY, True, {}),
    "binary_focal_crossentropy": (binary_focal_crossentropy, BINARY, True,
                                  {"gamma": 2.0, "alpha": 0.25, "apply_class_balancing": False}),
    "mse": (mse, REGRESSION, False, {}),
    "mean_squared_error": (mse, REGRESSION, False, {}),
    "mae": (mae, REGRESSION, False, {}),
    "mean_absolute_error": (mae, REGRESSION, False, {}),
    "huber": (huber, REGRESSION, False, {"delta": 1.0}),
    "huber_loss": (huber, REGRESSION, False, {"delta": 1.0}),
    "kld": (kld, REGRESSION, False, {}),
    "kl_divergence": (kld, REGRESSION, False, {}),
    "kullback_leibler_divergence": (kld, REGRESSION, False, {}),
}


class LossSpec:
    """A built-in loss with settings, as Keras' loss classes spell it.

    `BinaryCrossentropy(from_logits=True)` is accepted by `Model(loss=...)`
    and `compile(loss=...)`; called as Keras calls a loss,
    `loss(y_true, y_pred, sample_weight=None)` gives the reduced value.

    Args:
        from_logits: True: the module returns logits; False: probabilities
            (Keras' default); None (the default here): decided from the
            module on the first batch. Only for the crossentropies.
        options: the loss's own settings (`gamma`, `delta`, ...).
    """

    name = ""

    def __init__(self, from_logits: bool | None = None, **options: Any):
        if not _LOSSES[self.name][2] and from_logits is not None:
            raise OptionError("from_logits", from_logits, f"does not apply to {self.name}, which "
                              "reads the module's values as they are; leave it out")
        if from_logits not in (None, True, False):
            raise OptionError("from_logits", from_logits, "must be True, False or None (decided "
                              "from the module on the first batch)")
        self.output = None if from_logits is None else LOGITS if from_logits else PROBABILITIES
        defaults = _LOSSES[self.name][3]
        for key, value in options.items():
            if key not in defaults:
                raise OptionError(key, value, f"is not a setting of {type(self).__name__}; it takes "
                                  f"{['from_logits', *defaults] if _LOSSES[self.name][2] else list(defaults)}")
        self.options = {**defaults, **options}
        self.weight: float | None = None  # a saved model's loss_weights

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        """Keras' call: `sum(sample_weight * loss) / number of loss values`.

        Here, with no module to decide from, `from_logits=None` reads
        probabilities, as Keras' default `from_logits=False` does.
        """
        output = torch.as_tensor(y_pred, dtype=torch.float32)
        loss = get_loss(self)
        if loss.output is None:
            loss = loss.with_output(PROBABILITIES)
        values = loss.fn(output, torch.as_tensor(y_true))
        if sample_weight is None:
            return values.mean()
        weights = torch.as_tensor(sample_weight, dtype=values.dtype)
        if weights.dim() < values.dim():
            weights = weights.reshape(*weights.shape, *[1] * (values.dim() - weights.dim()))
        return (values * weights).sum() / values.numel()

    def __repr__(self) -> str:
        settings = {"output": self.output, **self.options}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


def _spec_class(class_name: str, name: str) -> type[LossSpec]:
    return type(class_name, (LossSpec,), {"name": name, "__module__": __name__,
                                          "__doc__": f"Keras' `{class_name}`: the loss {name!r}."})


BinaryCrossentropy = _spec_class("BinaryCrossentropy", "binary_crossentropy")
BinaryFocalCrossentropy = _spec_class("BinaryFocalCrossentropy", "binary_focal_crossentropy")
CategoricalCrossentropy = _spec_class("CategoricalCrossentropy", "categorical_crossentropy")
SparseCategoricalCrossentropy = _spec_class("SparseCategoricalCrossentropy",
                                            "sparse_categorical_crossentropy")
MeanSquaredError = _spec_class("MeanSquaredError", "mse")
MeanAbsoluteError = _spec_class("MeanAbsoluteError", "mae")
Huber = _spec_class("Huber", "huber")
KLDivergence = _spec_class("KLDivergence", "kld")

__all__ = ["BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy", "Huber",
           "KLDivergence", "LossSpec", "MeanAbsoluteError", "MeanSquaredError",
           "ProbabilityOutputWarning", "SparseCategoricalCrossentropy", "get_loss"]


def loss_weight(loss_weights: Any) -> float:
    """The factor of `loss_weights` for the single output: a number, or a one-entry list or dict.

    Raises:
        OptionError: anything else, or a negative number.
    """
    value = loss_weights
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    elif isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (dict, list, tuple)):
        raise OptionError("loss_weights", loss_weights, "must be a number, or one entry for the "
                          "single output (streamfit trains single-output models)")
    return float(check_number("loss_weights", value, minimum=0, integer=False))


def from_saved(name: str, saved: dict[str, Any]) -> LossSpec:
    """The loss `Loss.saved()` described, as a spec that `get_loss` accepts.

    Raises:
        UserError: settings this loss does not have (a damaged file).
    """
    function = _LOSSES[name][0] if name in _LOSSES else None
    cls = next((cls for cls in LossSpec.__subclasses__() if _LOSSES[cls.name][0] is function), None)
    settings = dict(saved)
    output, weight = settings.pop("output", None), settings.pop("weight", 1.0)
    if cls is None or output not in (None, *OUTPUTS) or not isinstance(weight, (int, float)):
        raise UserError(f"the saved loss {name!r} with settings {saved} is not one this streamfit "
                        "knows; save the model again")
    try:
        spec = cls(**settings)
    except OptionError as error:
        raise UserError(f"the saved loss {name!r}: {error}; save the model again") from None
    spec.name, spec.output, spec.weight = name, output, float(weight)  # an alias keeps its name
    return spec


def get_loss(spec: str | LossSpec | Callable | None, loss_weights: Any = None) -> Loss | None:
    """Resolve a loss name, Keras-style class or callable.

    Args:
        spec: a name from the table above, a `LossSpec` (`BinaryCrossentropy(
            from_logits=True)`), a callable `(output, target) -> tensor`, or
            None (a model for prediction only). A torch loss module with a
            `reduction` attribute (`torch.nn.CrossEntropyLoss()`) is copied
            with `reduction="none"` so that sample and class weights apply per
            sample; other callables may return per-sample values or a scalar
            (then weights cannot apply).
        loss_weights: multiplies the loss (see `loss_weight`); None is 1
            (or a saved model's weight, `from_saved`).

    Returns:
        The `Loss`, or None for None.

    Raises:
        OptionError: an unknown name, a non-callable, or bad `loss_weights`.
    """
    if spec is None:
        return None
    weight = 1.0 if loss_weights is None else loss_weight(loss_weights)
    output, options = None, {}
    if isinstance(spec, LossSpec):
        if spec.weight is not None and loss_weights is None:
            weight = spec.weight
        spec, output, options = spec.name, spec.output, spec.options
    if isinstance(spec, str):
        if spec not in _LOSSES:
            raise OptionError("loss", spec, f"is not a known loss; use one of {sorted(_LOSSES)} "
                              "or a callable(output, target) -> tensor")
        fn, kind, reads_logits, defaults = _LOSSES[spec]
        options = {**defaults, **options}
        if not reads_logits:
            return Loss(spec, functools.partial(fn, **options) if options else fn, kind,
                        weight=weight, options=options)
        return Loss(spec, functools.partial(fn, output_kind=output or LOGITS, **options), kind,
                    output=output, settled=False, weight=weight, options=options)
    if not callable(spec):
        raise OptionError("loss", spec, "is neither a loss name nor a callable(output, target)")
    if isinstance(spec, torch.nn.Module) and hasattr(spec, "reduction"):
        spec = copy.copy(spec)
        spec.reduction = "none"
    return Loss(None, spec, None, weight=weight)


#: Final layers whose output is a probability, and what it is.
_PROBABILITY_LAYERS: dict[type, str] = {
    torch.nn.Sigmoid: PROBABILITIES, torch.nn.Softmax: PROBABILITIES,
    torch.nn.LogSoftmax: LOG_PROBABILITIES}


class OutputRecorder:
    """Records, during one forward pass, which submodule produced each tensor.

    Use as a context manager around the first batch's forward: `producer(t)`
    is then the innermost module that returned the tensor `t` (None when the
    module's own `forward` computed it, with `torch.sigmoid` say), and
    `returned` what the module itself returned (a wrapper such as DDP may
    hand on other tensor objects).
    """

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.produced: dict[int, tuple[torch.Tensor, torch.nn.Module]] = {}
        self.returned: Any = None
        self.handles: list = []

    def __enter__(self) -> OutputRecorder:
        def record(layer: torch.nn.Module, inputs: Any, result: Any) -> None:
            if layer is self.module:
                self.returned = result
            elif isinstance(result, torch.Tensor):
                # The innermost layer returns first; holding the tensor keeps its id unique.
                self.produced.setdefault(id(result), (result, layer))

        self.handles = [layer.register_forward_hook(record) for layer in self.module.modules()]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def producer(self, tensor: torch.Tensor) -> torch.nn.Module | None:
        entry = self.produced.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None


def _by_layer(layer: torch.nn.Module | None, output: torch.Tensor) -> str | None:
    kind = next((kind for cls, kind in _PROBABILITY_LAYERS.items() if isinstance(layer, cls)), None)
    if kind is not None and isinstance(layer, (torch.nn.Softmax, torch.nn.LogSoftmax)):
        dim = layer.dim
        if dim is not None and dim % output.dim() != output.dim() - 1:
            return None  # over another axis than the classes: not these rows' distribution
    return kind


def _by_values(output: torch.Tensor) -> str | None:
    """PROBABILITIES or LOG_PROBABILITIES when every row of several columns is a distribution."""
    if output.dim() < 2 or output.shape[-1] < 2 or output.numel() == 0:
        return None
    values = output.detach().double()
    if bool(values.min() >= 0) and bool(values.max() <= 1) \
            and bool(((values.sum(dim=-1) - 1).abs() < 1e-3).all()):
        return PROBABILITIES
    if bool(values.max() <= 1e-6) and bool(((values.exp().sum(dim=-1) - 1).abs() < 1e-3).all()):
        return LOG_PROBABILITIES
    return None


def detect_output(loss: Loss, output: torch.Tensor, layer: torch.nn.Module | None,
                  where: str) -> Loss:
    """Settle what the module returns, on its first batch, and say so when it is not logits.

    Args:
        loss: the model's loss (`settled` False).
        output: the module's output for the first batch.
        layer: the layer that produced it (`OutputRecorder.producer`), or None.
        where: the batch, for messages.

    Returns:
        The loss reading that output (`settled`).

    Raises:
        UserError: `from_logits=False` given, but the outputs are not in [0, 1].
    """
    if loss.output is not None:
        low, high = (float(output.detach().min()), float(output.detach().max())) \
            if output.numel() else (0.0, 1.0)
        if loss.output == PROBABILITIES and not 0 <= low <= high <= 1:
            raise UserError(
                f"the loss {loss.name} was given from_logits=False, but the module's outputs for "
                f"{where} lie outside [0, 1] ({low:.3g} to {high:.3g}); end the module with "
                "nn.Sigmoid / nn.Softmax, or pass from_logits=True")
        return loss.with_output(loss.output)
    found = _by_layer(layer, output)
    source = f"its final {type(layer).__name__} layer" if found is not None else None
    if found is None:
        found = _by_values(output)
        source = "its outputs on the first batch (rows that sum to 1)"
    if found is None:
        return loss.with_output(LOGITS)
    reads = ("probabilities: the loss clips them to [1e-7, 1 - 1e-7] as Keras does and predict "
             "returns them unchanged" if found == PROBABILITIES else
             "log-probabilities: the loss is their negative log-likelihood and predict returns "
             "their exp")
    if loss.kind == BINARY:
        reads += ", accuracy counts probability > 0.5"
    warnings.warn(
        f"the module returns {found.replace('_', '-')} (from {source}), so {loss.name} reads "
        f"{reads}; pass loss={_spec_name(loss.name)}(from_logits=...) from streamfit.losses "
        "to choose yourself and silence this", ProbabilityOutputWarning, stacklevel=2)
    return loss.with_output(found)


def _spec_name(name: str | None) -> str:
    return next((cls.__name__ for cls in LossSpec.__subclasses__() if cls.name == name), "the loss")
