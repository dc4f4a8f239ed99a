"""Metrics by name, and the running sums that turn batches into epoch values.

A metric is `fn(output, target)` over one batch. Most return a scalar (a
tensor with more values is averaged), and their epoch values are means over
batches weighted by the batch's row count, so accuracy over an epoch is
exactly correct rows / rows, whatever the size of the last batch. Per-token
metrics (outputs `(batch, maxlen, classes)`) average over the batch's tokens
first. Metrics ignore sample and class weights, as Keras' `metrics=` do.

`precision`, `recall`, `f1_score` and `auc` are not means of batch values:
each batch returns its counts (`Totals`: true and false positives, ...), the
epoch sums them and computes the value once, so the epoch's precision is
exactly the precision of all its rows, as Keras' stateful metrics give.

The built-in metrics read probabilities: what `predict` returns (the
softmax or sigmoid of logits, or the module's own probabilities, see
`streamfit.training.losses`). Callables receive the module's raw output.

| name | value |
| --- | --- |
| `accuracy` (`acc`) | follows the loss, see below |
| `binary_accuracy` | probability > 0.5 against target > 0.5, over all values |
| `categorical_accuracy` | argmax against the argmax of a one-hot target |
| `sparse_categorical_accuracy` | argmax against class ids |
| `top_k_categorical_accuracy`, `sparse_top_k_categorical_accuracy` | the target among the 5 highest (ties count, as Keras) |
| `precision`, `recall` | of the decisions probability > 0.5 over all values (class ids become one-hot: micro-averaged, as Keras' `Precision` on one-hot targets) |
| `f1_score` | binary F1 at 0.5 with one column (or binary / multi-label losses); with a multiclass loss, the F1 of argmax predictions per class, averaged over classes (macro; Keras' `F1Score` returns the per-class vector) |
| `auc` | ROC AUC over 200 thresholds (Keras' `AUC()`), over all values as `precision` |
| `mse`, `mae` (`mean_squared_error`, `mean_absolute_error`) | the unweighted loss of that name |

Keras' classes are here too, with their settings (`streamfit.metrics`):
`BinaryAccuracy(threshold=)`, `CategoricalAccuracy()`,
`SparseCategoricalAccuracy()`, `TopKCategoricalAccuracy(k=)`,
`SparseTopKCategoricalAccuracy(k=)`, `Precision(thresholds=)`,
`Recall(thresholds=)`, `AUC(num_thresholds=)` (ROC, interpolated, as
Keras' default) and `F1Score(threshold=)`, each with `name=` for the log
key. Settings streamfit lacks (`AUC(curve="PR")`, `Precision(top_k=)`,
`F1Score(average="weighted")`) are refused, not ignored.

`"accuracy"` (the log key is the name you gave) follows the loss:

- multiclass losses: argmax against the class id, or against the argmax of
  a one-hot target (per token for per-token outputs);
- `binary_crossentropy` and the focal loss: probability > 0.5 against
  target > 0.5 (for logits: logit > 0);
- other losses: argmax when the output has more than one column, else exact
  equality of output and target (Keras' `Accuracy`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from streamfit.errors import OptionError, UserError, check_number
from streamfit.training import losses as loss_functions
from streamfit.training.losses import BINARY, EPSILON, MULTICLASS, Loss

#: Keras' `AUC(num_thresholds=200)`.
AUC_THRESHOLDS = 200
TOP_K = 5


@dataclass(frozen=True)
class Metric:
    """A named metric: `fn(output, target) -> scalar or Totals` over one batch.

    Attributes:
        reads_probabilities: the built-in metrics get what `predict` returns;
            callables the module's raw output.
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], Any]
    spec: str | dict | None
    reads_probabilities: bool = False


@dataclass(frozen=True)
class Totals:
    """A batch's counts for a metric whose epoch value is `finish(sum of counts)`.

    Attributes:
        finish: the name of the function in `FINISH` that turns summed counts
            into the value (saved in checkpoints, so a name, not a function).
        counts: a float64 vector.
    """

    finish: str
    counts: torch.Tensor

    def __float__(self) -> float:
        """The value of these counts alone (one batch's, for `train_on_batch`)."""
        return FINISH[self.finish](self.counts.double())


def _ids(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class ids from integer targets (`(...)` or `(..., 1)`) or one-hot ones (the output's shape)."""
    if target.shape == output.shape:
        return target.argmax(dim=-1)
    if target.dim() == output.dim() and target.shape[-1] == 1:
        target = target.squeeze(-1)
    if target.shape != output.shape[:-1]:
        raise UserError(f"accuracy: outputs of shape {tuple(output.shape)} need class ids of shape "
                        f"{tuple(output.shape[:-1])} or one-hot targets of the output's shape, but "
                        f"the targets have shape {tuple(target.shape)}")
    return target.long()


def _flat_like(output: torch.Tensor, target: torch.Tensor, name: str) -> torch.Tensor:
    target = target.to(output.dtype)
    if target.shape != output.shape and target.numel() == output.numel():
        target = target.reshape(output.shape)
    if target.shape != output.shape:
        raise UserError(f"{name}: targets of shape {tuple(target.shape)} do not fit outputs of shape "
                        f"{tuple(output.shape)}; give one target value per output value")
    return target


def _argmax_accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output.argmax(dim=-1) == _ids(output, target)).float().mean()


def sparse_categorical_accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Argmax of the output against class ids."""
    return _argmax_accuracy(output, target)


def categorical_accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Argmax of the output against the argmax of one-hot targets."""
    return _argmax_accuracy(output, target)


def binary_accuracy(output: torch.Tensor, target: torch.Tensor,
                    threshold: float = 0.5) -> torch.Tensor:
    """Probability > threshold against target > 0.5, over all values."""
    target = _flat_like(output, target, "binary_accuracy")
    return ((output > threshold) == (target > 0.5)).float().mean()


def _in_top_k(output: torch.Tensor, ids: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, output.shape[-1])
    kth = output.topk(k, dim=-1).values[..., -1]
    return (output.gather(-1, ids.unsqueeze(-1)).squeeze(-1) >= kth).float().mean()


def top_k_categorical_accuracy(output: torch.Tensor, target: torch.Tensor,
                               k: int = TOP_K) -> torch.Tensor:
    """Whether the one-hot target's class is among the output's `k` highest."""
    return _in_top_k(output, _ids(output, target), k)


def sparse_top_k_categorical_accuracy(output: torch.Tensor, target: torch.Tensor,
                                      k: int = TOP_K) -> torch.Tensor:
    """Whether the class id is among the output's `k` highest."""
    return _in_top_k(output, _ids(output, target), k)


def _decisions(output: torch.Tensor, target: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat probabilities and 0/1 labels; class ids become one-hot rows of the output's width."""
    if output.dim() >= 2 and output.shape[-1] > 1 and target.shape != output.shape \
            and target.numel() * output.shape[-1] == output.numel():
        ids = target.reshape(output.shape[:-1]).long()
        target = torch.nn.functional.one_hot(ids.clamp(0, output.shape[-1] - 1), output.shape[-1])
    target = _flat_like(output, target, name)
    return output.reshape(-1).double(), target.reshape(-1).double()


def _confusion(output: torch.Tensor, target: torch.Tensor, name: str,
               threshold: float) -> torch.Tensor:
    probabilities, labels = _decisions(output, target, name)
    predicted = (probabilities > threshold).double()
    return torch.stack([(predicted * labels).sum(), (predicted * (1 - labels)).sum(),
                        ((1 - predicted) * labels).sum()])


def precision(output: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> Totals:
    """Counts `[tp, fp, fn]` at `threshold`; the epoch's value is tp / (tp + fp)."""
    return Totals("precision", _confusion(output, target, "precision", threshold))


def recall(output: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> Totals:
    """Counts `[tp, fp, fn]` at `threshold`; the epoch's value is tp / (tp + fn)."""
    return Totals("recall", _confusion(output, target, "recall", threshold))


def binary_f1_score(output: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> Totals:
    """Counts `[tp, fp, fn]` at `threshold` over all values; the epoch's value is their F1."""
    return Totals("f1", _confusion(output, target, "f1_score", threshold))


def macro_f1_score(output: torch.Tensor, target: torch.Tensor) -> Totals:
    """Per-class counts `[tp..., fp..., fn...]` of argmax predictions; the value is the mean F1."""
    if output.dim() < 2 or output.shape[-1] < 2:
        return binary_f1_score(output, target)
    classes = output.shape[-1]
    predicted = torch.nn.functional.one_hot(output.argmax(dim=-1), classes).reshape(-1, classes)
    actual = torch.nn.functional.one_hot(_ids(output, target).clamp(0, classes - 1), classes)
    predicted, actual = predicted.double(), actual.reshape(-1, classes).double()
    return Totals("f1_macro", torch.cat([(predicted * actual).sum(0), (predicted * (1 - actual)).sum(0),
                                         ((1 - predicted) * actual).sum(0)]))


def _auc_thresholds(count: int, device: torch.device) -> torch.Tensor:
    """Keras' evenly spaced thresholds: just below 0, `count - 2` inside, just above 1."""
    inner = [(i + 1) / (count - 1) for i in range(count - 2)]
    return torch.tensor([-EPSILON, *inner, 1.0 + EPSILON], dtype=torch.float64, device=device)


def auc(output: torch.Tensor, target: torch.Tensor, num_thresholds: int = AUC_THRESHOLDS) -> Totals:
    """Counts `[tp per threshold..., fp per threshold..., positives, negatives]` for the ROC AUC."""
    probabilities, labels = _decisions(output, target, "auc")
    # A value's bucket i: thresholds[i - 1] < value <= thresholds[i]; it is above thresholds[:i].
    buckets = torch.bucketize(probabilities, _auc_thresholds(num_thresholds, probabilities.device))
    size = num_thresholds + 1
    positive = torch.zeros(size, dtype=torch.float64, device=labels.device).index_add_(0, buckets, labels)
    negative = torch.zeros(size, dtype=torch.float64, device=labels.device).index_add_(
        0, buckets, 1 - labels)
    # Above threshold j: buckets j + 1 and up.
    tp = positive.flip(0).cumsum(0).flip(0)[1:]
    fp = negative.flip(0).cumsum(0).flip(0)[1:]
    return Totals("auc", torch.cat([tp, fp, labels.sum().reshape(1), (1 - labels).sum().reshape(1)]))


def _divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Keras' divide_no_nan: 0 where the denominator is 0."""
    return torch.where(denominator == 0, torch.zeros_like(numerator),
                       numerator / torch.where(denominator == 0, torch.ones_like(denominator), denominator))


def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """Keras' `FBetaScore` (beta 1), epsilons included."""
    p = tp / (tp + fp + EPSILON)
    r = tp / (tp + fn + EPSILON)
    return 2 * p * r / (p + r + EPSILON)


def _finish_auc(counts: torch.Tensor) -> float:
    size = (counts.numel() - 2) // 2
    tp, fp, positives, negatives = counts[:size], counts[size:2 * size], counts[-2], counts[-1]
    tpr, fpr = _divide(tp, positives.expand(size)), _divide(fp, negatives.expand(size))
    return float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum())


#: Turn summed `Totals.counts` into the epoch's value.
FINISH: dict[str, Callable[[torch.Tensor], float]] = {
    "precision": lambda c: float(_divide(c[0], c[0] + c[1])),
    "recall": lambda c: float(_divide(c[0], c[0] + c[2])),
    "f1": lambda c: float(_f1(c[0], c[1], c[2])),
    "f1_macro": lambda c: float(_f1(*c.reshape(3, -1)).mean()),
    "auc": _finish_auc,
}


def _loss_metric(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    loss = loss_functions.get_loss(name)

    def value(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss.fn(output, target).mean()

    value.__name__ = name
    return value


def _accuracy_for(kind: str | None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == MULTICLASS:
        return _argmax_accuracy
    if kind == BINARY:
        return binary_accuracy

    def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if output.dim() >= 2 and output.shape[-1] > 1:
            return _argmax_accuracy(output, target)
        return (output == target.reshape(output.shape).to(output.dtype)).float().mean()

    return accuracy


_BY_NAME: dict[str, Callable] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "precision": precision,
    "recall": recall,
    "auc": auc,
    **{name: _loss_metric(name) for name in ("mse", "mae", "mean_squared_error", "mean_absolute_error")},
}
NAMES = sorted(["accuracy", "acc", "f1_score", *_BY_NAME])


def _named(spec: str, kind: str | None, options: dict | None = None) -> Callable:
    if spec in ("accuracy", "acc"):
        fn = _accuracy_for(kind)
    elif spec == "f1_score":
        options = {key: value for key, value in (options or {}).items() if value is not None}
        if "threshold" not in options and kind == MULTICLASS:
            return macro_f1_score
        fn = binary_f1_score
    else:
        fn = _BY_NAME[spec]
    return functools.partial(fn, **options) if options else fn


class MetricSpec:
    """A built-in metric with settings, as Keras' metric classes spell it.

    `metrics=[AUC(), Precision(thresholds=0.7), TopKCategoricalAccuracy(k=3)]`
    is accepted by `Model` and `compile`; the log key is `name` (Keras'
    default names: "auc", "precision", "top_k_categorical_accuracy", ...).

    Args:
        name: the log key; the metric's own name by default.
        options: the class's settings (see each class).

    Raises:
        OptionError: a setting the class does not have, or one streamfit does
            not support (`AUC(curve="PR")`, `F1Score(average="weighted")`).
    """

    metric = ""
    #: Keras' settings and their defaults; `None` where Keras' None means the default here.
    settings: dict[str, Any] = {}
    #: Keras settings accepted only with these values (streamfit has no other).
    fixed: dict[str, tuple] = {}
    #: Keras' spelling of a setting -> the metric function's (`thresholds` -> `threshold`).
    keyword: dict[str, str] = {}

    def __init__(self, name: str | None = None, **options: Any):
        for key, value in options.items():
            if key in self.fixed:
                if value not in self.fixed[key]:
                    raise OptionError(key, value, f"is not supported by streamfit's "
                                      f"{type(self).__name__}; leave it out (or use "
                                      f"{self.fixed[key][0]!r})")
            elif key not in self.settings:
                raise OptionError(key, value, f"is not a setting of {type(self).__name__}; it takes "
                                  f"{['name', *self.settings, *self.fixed]}")
            elif value is not None:
                default = self.settings[key]
                integer = isinstance(default, int)
                check_number(key, value, minimum=2 if key == "num_thresholds" else 1 if integer
                             else 0, below=None if integer else 1, integer=integer)
        self.name = name or self.metric
        self.options = {key: options[key] for key in self.settings
                        if key in options and options[key] is not None
                        and options[key] != self.settings[key]}

    def saved(self) -> str | dict[str, Any]:
        """Its name when it has the defaults, else `{"class", "name", options}` for model.json."""
        if not self.options and self.name == self.metric:
            return self.metric
        return {"class": type(self).__name__, "name": self.name, **self.options}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}{''.join(f', {k}={v!r}' for k, v in self.options.items())})"


def _metric_class(class_name: str, metric: str, settings: dict | None = None,
                  fixed: dict | None = None, keyword: dict | None = None) -> type[MetricSpec]:
    return type(class_name, (MetricSpec,), {
        "metric": metric, "settings": settings or {}, "fixed": fixed or {},
        "keyword": keyword or {}, "__module__": __name__,
        "__doc__": f"Keras' `{class_name}`: the metric {metric!r}."})


_IGNORED = {"dtype": (None,)}
BinaryAccuracy = _metric_class("BinaryAccuracy", "binary_accuracy", {"threshold": 0.5}, _IGNORED)
CategoricalAccuracy = _metric_class("CategoricalAccuracy", "categorical_accuracy", {}, _IGNORED)
SparseCategoricalAccuracy = _metric_class("SparseCategoricalAccuracy", "sparse_categorical_accuracy",
                                          {}, _IGNORED)
TopKCategoricalAccuracy = _metric_class("TopKCategoricalAccuracy", "top_k_categorical_accuracy",
                                        {"k": TOP_K}, _IGNORED)
SparseTopKCategoricalAccuracy = _metric_class(
    "SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy", {"k": TOP_K}, _IGNORED)
Precision = _metric_class("Precision", "precision", {"thresholds": 0.5},
                          {**_IGNORED, "top_k": (None,), "class_id": (None,)},
                          {"thresholds": "threshold"})
Recall = _metric_class("Recall", "recall", {"thresholds": 0.5},
                       {**_IGNORED, "top_k": (None,), "class_id": (None,)},
                       {"thresholds": "threshold"})
# from_logits: the metrics read probabilities already (the sigmoid of logits), either way.
AUC = _metric_class("AUC", "auc", {"num_thresholds": AUC_THRESHOLDS},
                    {**_IGNORED, "curve": ("ROC",), "summation_method": ("interpolation",),
                     "multi_label": (False,), "from_logits": (False, True)})
F1Score = _metric_class("F1Score", "f1_score", {"threshold": None},
                        {**_IGNORED, "average": (None, "macro")})

__all__ = ["AUC", "BinaryAccuracy", "CategoricalAccuracy", "F1Score", "MetricSpec", "Precision",
           "Recall", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "TopKCategoricalAccuracy", "get_metrics"]


def from_saved(saved: str | dict[str, Any]) -> str | MetricSpec:
    """A metric as model.json holds it (`MetricSpec.saved()`), ready for `get_metrics`.

    Raises:
        UserError: a class or setting this streamfit does not know (a damaged file).
    """
    if isinstance(saved, str):
        return saved
    settings = dict(saved)
    class_name = settings.pop("class", None)
    cls = next((cls for cls in MetricSpec.__subclasses__() if cls.__name__ == class_name), None)
    if cls is None:
        raise UserError(f"the saved metric {saved} is not one this streamfit knows; save the "
                        "model again")
    try:
        return cls(**settings)
    except (OptionError, TypeError) as error:
        raise UserError(f"the saved metric {saved}: {error}; save the model again") from None


def get_metrics(specs: list | tuple | None, loss: Loss | None) -> list[Metric]:
    """Resolve metric names and callables.

    Args:
        specs: names from the table above, Keras-style classes (`AUC()`,
            `TopKCategoricalAccuracy(k=3)`), or callables `(output, target) ->
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
            if spec not in NAMES:
                raise OptionError("metrics", specs, f"holds {spec!r}, which is not a known metric; "
                                  f"use one of {NAMES} or a callable(output, target) -> scalar")
            metrics.append(Metric(spec, _named(spec, kind), spec, reads_probabilities=True))
        elif isinstance(spec, MetricSpec):
            options = {spec.keyword.get(key, key): value for key, value in spec.options.items()}
            if spec.metric == "f1_score" and "threshold" in options and kind == MULTICLASS:
                raise OptionError("threshold", options["threshold"], "is not supported by "
                                  "F1Score with a multiclass loss (it takes the argmax); leave it out")
            metrics.append(Metric(spec.name, _named(spec.metric, kind, options), spec.saved(),
                                  reads_probabilities=True))
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
    """Means of per-batch values weighted by rows, and sums of `Totals`, kept on the device.

    Sums stay tensors so that a training step does not wait for the
    accelerator; `result()` reads them once.

    Args:
        sums: `{name: sum of value * rows}` to start from (tensors or floats;
            a `Totals` metric's summed counts).
        rows: the rows those sums hold.
        totals: `{name: Totals.finish}` of the sums that are counts.
    """

    def __init__(self, sums: dict[str, torch.Tensor | float] | None = None, rows: int = 0,
                 totals: dict[str, str] | None = None) -> None:
        self.sums: dict[str, torch.Tensor | float] = dict(sums or {})
        self.rows = rows
        self.totals: dict[str, str] = dict(totals or {})

    def update(self, values: dict[str, Any], rows: int) -> None:
        """Add one batch's values, each weighted by its `rows` (`Totals` added as they are)."""
        for name, value in values.items():
            if isinstance(value, Totals):
                self.totals[name] = value.finish
                self.sums[name] = self.sums.get(name, 0.0) + value.counts.detach().double()
                continue
            if isinstance(value, torch.Tensor):
                value = value.detach().float().mean()
            self.sums[name] = self.sums.get(name, 0.0) + value * rows
        self.rows += rows

    def result(self) -> dict[str, float]:
        """The means (and finished totals) so far, as Python floats (empty before the first batch)."""
        if not self.rows:
            return {}
        return {name: FINISH[self.totals[name]](total) if name in self.totals
                else float(total) / self.rows for name, total in self.sums.items()}

    def zeroed(self) -> RunningMeans:
        """The same names (and count shapes) with zero sums and no rows."""
        return RunningMeans({name: torch.zeros_like(value) if isinstance(value, torch.Tensor) else 0.0
                             for name, value in self.sums.items()}, 0, self.totals)

    def state_dict(self) -> dict[str, Any]:
        """`{"rows": int, "floats": {name: sum}}`: the rows and the sums that are not tensors.

        With `Totals` metrics, also `"totals": {name: finish}` (their counts are tensors).
        """
        state: dict[str, Any] = {
            "rows": self.rows, "floats": {name: float(value) for name, value in self.sums.items()
                                          if not isinstance(value, torch.Tensor)}}
        if self.totals:
            state["totals"] = dict(self.totals)
        return state

    def tensor_state_dict(self) -> dict[str, torch.Tensor]:
        """The sums that are tensors (read without waiting for the device), on the CPU."""
        return {name: value.detach().cpu() for name, value in self.sums.items()
                if isinstance(value, torch.Tensor)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()`'s rows and float sums (the tensor sums follow).

        Raises:
            UserError: a count metric this streamfit does not know.
        """
        self.sums = dict(state["floats"])
        self.rows = int(state["rows"])
        self.totals = dict(state.get("totals", {}))
        unknown = [finish for finish in self.totals.values() if finish not in FINISH]
        if unknown:
            raise UserError(f"the checkpoint holds counts of the metric kind {unknown[0]!r}, which "
                            "this streamfit does not know; resume with the streamfit that wrote it")

    def load_tensor_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Add back the tensor sums, on the device they are given on."""
        self.sums.update(tensors)
