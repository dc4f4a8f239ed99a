"""The bag models' forward pass in numpy and scipy: `NgramMLP` and `FastTextModel` without torch.

Both models start with a sparse first layer, `SparseLinear`: torch's
`EmbeddingBag(mode="sum")` over a CSR row's columns weighted by its values,
which is the product `x @ W` of the scipy CSR batch with the weight rows
(float32, each row's non-zeros summed in order, as torch sums them). The rest
are small dense layers (`nn.Linear`: `h @ W.T + b`) and ReLUs; dropout is
the identity at inference. The outputs are read as the bundle reads torch's
logits: a softmax over the classes, for two classes one logit through a
sigmoid (`[1 - p, p]`), and for a multi-label model one sigmoid per label.

`declared_shapes` checks a model config as the torch constructors do (the
same messages) and gives the state-dict shapes it implies, so a bundle's
weights are checked before anything is read. Equal to torch's forward to
float rounding (tests/inference/test_forward.py: 1e-5, the same argmax).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse

from streamfit.errors import OptionError, check_number

#: The model kinds run here; the others (sepcnn) run through torch.
BAG_KINDS = ("mlp", "fasttext")
#: The most layers an mlp has (`models.mlp.MAX_LAYERS`).
MAX_LAYERS = 1000
_ARGUMENTS = {
    "mlp": ("num_features", "num_classes", "layers", "units", "dropout", "multi_label"),
    "fasttext": ("num_features", "num_classes", "dim", "sparse_grad", "multi_label"),
}
_DEFAULTS = {
    "mlp": {"layers": 2, "units": 64, "dropout": 0.2, "multi_label": False},
    "fasttext": {"dim": 10, "sparse_grad": False, "multi_label": False},
}


def output_units(num_classes: int, multi_label: bool = False) -> int:
    """Logits of the output layer: 1 for two classes, else one per class (one per label: multi-label).

    Raises:
        OptionError: fewer than two classes, or a `multi_label` that is not a bool.
    """
    check_number("num_classes", num_classes, minimum=2)
    if not isinstance(multi_label, bool):
        raise OptionError("multi_label", multi_label, "must be True or False")
    return num_classes if multi_label or num_classes > 2 else 1


def model_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A bag model's constructor arguments, checked as its torch constructor checks them, with defaults.

    Raises:
        OptionError: an unknown argument, or one out of range (the constructor's message).
        TypeError: a required argument is missing.
    """
    accepted = _ARGUMENTS[kind]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise OptionError(unknown[0], config[unknown[0]], f"is no argument of the {kind} model; "
                          f"use {', '.join(accepted)}")
    missing = [name for name in ("num_features", "num_classes") if name not in config]
    if missing:
        raise TypeError(f"missing the argument {missing[0]!r}")
    full = {**_DEFAULTS[kind], **config}
    check_number("num_features", full["num_features"], minimum=1)
    if kind == "mlp":
        check_number("layers", full["layers"], minimum=1, below=MAX_LAYERS + 1)
        check_number("units", full["units"], minimum=1)
        check_number("dropout", full["dropout"], minimum=0, below=1, integer=False)
    else:
        check_number("dim", full["dim"], minimum=1)
    output_units(full["num_classes"], full["multi_label"])
    return full


def declared_shapes(kind: str, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of a bag model as `config` declares it (no memory, no torch).

    Raises:
        OptionError, TypeError: as `model_config`.
    """
    config = model_config(kind, config)
    features, outputs = int(config["num_features"]), output_units(config["num_classes"],
                                                                   config["multi_label"])
    if kind == "fasttext":
        dim = int(config["dim"])
        return {"embedding.bag.weight": (features, dim), "output.weight": (outputs, dim),
                "output.bias": (outputs,)}
    layers, units = int(config["layers"]), int(config["units"])
    first = units if layers > 1 else outputs
    # torch's state-dict order: a module's own parameters, then its children's.
    shapes = {"input_layer.bias": (first,), "input_layer.bag.weight": (features, first)}
    for index, (width_in, width_out) in enumerate(_dense_layers(layers, units, outputs)):
        shapes[f"head.{2 + 3 * index}.weight"] = (width_out, width_in)
        shapes[f"head.{2 + 3 * index}.bias"] = (width_out,)
    return shapes


def _dense_layers(layers: int, units: int, outputs: int) -> list[tuple[int, int]]:
    """(in, out) of the mlp's dense layers after its first: at indices 2, 5, 8, ... of its head."""
    if layers == 1:
        return []
    return [(units, units)] * (layers - 2) + [(units, outputs)]


def logits(kind: str, config: Mapping[str, Any], weights: Mapping[str, np.ndarray], x) -> np.ndarray:
    """A bag model's logits `[n, num_outputs]` float32 for a batch `x` (scipy sparse or dense rows).

    Args:
        kind: "mlp" or "fasttext".
        config: its constructor arguments (bundle.json's model.config).
        weights: its state dict as float32 arrays (`inference.weights.read_weights`).
        x: the feature rows, `[n, num_features]`: the extractor's CSR matrix.

    Raises:
        ValueError: `x` is not as wide as the first layer.
    """
    config = model_config(kind, config)
    first = "embedding" if kind == "fasttext" else "input_layer"
    table = weights[f"{first}.bag.weight"]
    if scipy.sparse.issparse(x):
        x = x.tocsr()
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if x.shape[1] != table.shape[0]:
            raise ValueError(f"the rows have {x.shape[1]} features, the model's first layer "
                             f"{table.shape[0]}")
        # scipy's csr @ dense sums each row's non-zeros in order, in float32, as EmbeddingBag does.
        h = np.asarray(x @ table, dtype=np.float32)
    else:
        h = np.asarray(x, dtype=np.float32) @ table
    if kind == "fasttext":
        return _linear(h, weights["output.weight"], weights["output.bias"])
    h += weights["input_layer.bias"]
    layers, units = int(config["layers"]), int(config["units"])
    outputs = output_units(config["num_classes"], config["multi_label"])
    for index in range(len(_dense_layers(layers, units, outputs))):
        np.maximum(h, 0, out=h)
        name = f"head.{2 + 3 * index}"
        h = _linear(h, weights[f"{name}.weight"], weights[f"{name}.bias"])
    return h


def _linear(h: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """`nn.Linear`: `h @ weight.T + bias`."""
    out = h @ weight.T
    out += bias
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow for large |z|, in z's dtype."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax(z: np.ndarray) -> np.ndarray:
    """The softmax of each row, shifted by its maximum."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities_of(logits_: np.ndarray, multi_label: bool) -> np.ndarray:
    """Probabilities `[n, num_classes]` from logits, as `Bundle.predict_proba` reads them.

    Multi-label: each label's sigmoid. One logit (two classes): `[1 - p, p]`
    with `p` its sigmoid. Else the softmax.
    """
    logits_ = np.asarray(logits_, dtype=np.float32)
    if multi_label:
        return sigmoid(logits_)
    if logits_.shape[-1] == 1:
        p = sigmoid(logits_[:, 0])
        return np.stack([1 - p, p], axis=1)
    return softmax(logits_)


def predict_proba(kind: str, config: Mapping[str, Any], weights: Mapping[str, np.ndarray], x,
                  multi_label: bool | None = None) -> np.ndarray:
    """Class probabilities `[n, num_classes]` float32 of a bag model for feature rows `x`.

    Args:
        multi_label: read the logits as one sigmoid per label; None: the
            config's `multi_label`.
    """
    if multi_label is None:
        multi_label = bool(config.get("multi_label", False))
    return probabilities_of(logits(kind, config, weights, x), multi_label)
