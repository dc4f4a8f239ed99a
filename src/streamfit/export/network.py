"""A bundle's model as plain arrays and a layer list, the one description both exporters build from.

The bag models (`mlp`: `NgramMLP`, `fasttext`: `FastTextModel`) are

    h = sum_j weights[j] * embedding[ids[j]]   (per row: the sparse first layer)
    h = h + bias                               (mlp; fasttext's embedding has none)
    for each dense layer: h = relu(h) (mlp only); h = h @ W.T + b
    probabilities = output(h)

and sepCNN is described by its state dict and config (`SepCNNNet`). The
probabilities are the bundle's own (`Bundle.predict_proba`): `"softmax"`
over the logits, `"sigmoid"` per label (a multi-label bundle), or
`"binary"`: one logit z for two classes, probabilities `[1 - s, s]` with
`s = sigmoid(z)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from streamfit.errors import UserError

#: The model kinds whose first layer is a bag of (id, weight) pairs.
BAG_KINDS = ("mlp", "fasttext")
#: Every model kind the exporters write.
EXPORT_KINDS = (*BAG_KINDS, "sepcnn")


def output_activation(multi_label: bool, num_outputs: int) -> str:
    """How logits become the bundle's probabilities: "sigmoid", "binary" or "softmax"."""
    if multi_label:
        return "sigmoid"
    return "binary" if num_outputs == 1 else "softmax"


@dataclass
class BagNet:
    """A bag model as arrays (float32).

    Attributes:
        embedding: `[num_features, width]`, the first layer's rows.
        bias: `[width]` added after the bag sum, or None (fasttext).
        dense: the layers after it, `(weight [out, in], bias [out])` as torch's `nn.Linear`.
        relu: a ReLU before each dense layer (mlp), or none (fasttext).
        output: `output_activation`'s name.
    """

    embedding: np.ndarray
    bias: np.ndarray | None
    dense: list[tuple[np.ndarray, np.ndarray]]
    relu: bool
    output: str

    @property
    def num_features(self) -> int:
        return int(self.embedding.shape[0])

    def forward(self, ids: np.ndarray, offsets: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Probabilities `[len(offsets) - 1, classes]` in numpy, the exported graphs' reference."""
        rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        h = np.zeros((len(offsets) - 1, self.embedding.shape[1]), np.float64)
        np.add.at(h, rows, self.embedding[ids].astype(np.float64) * weights[:, None])
        if self.bias is not None:
            h += self.bias
        for weight, bias in self.dense:
            h = (np.maximum(h, 0) if self.relu else h) @ weight.T.astype(np.float64) + bias
        return probabilities(h, self.output)


def probabilities(logits: np.ndarray, output: str) -> np.ndarray:
    """float32 probabilities of `logits` by `output_activation`'s name."""
    if output == "softmax":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    s = 1 / (1 + np.exp(-logits))
    return (np.concatenate([1 - s, s], axis=1) if output == "binary" else s).astype(np.float32)


@dataclass
class SepCNNNet:
    """A sepCNN as its state dict and config; `length` is the padded sequence length."""

    state: dict[str, np.ndarray]
    config: dict
    length: int
    output: str


def bag_net(kind: str, state: dict[str, np.ndarray], multi_label: bool) -> BagNet:
    """The `BagNet` of a bag model's state dict (the names `NgramMLP` and `FastTextModel` use).

    Raises:
        UserError: a kind that is not a bag model, or a state dict without its weights.
    """
    state = {key: np.asarray(value, np.float32) for key, value in state.items()}
    try:
        if kind == "mlp":
            embedding, bias = state["input_layer.bag.weight"], state["input_layer.bias"]
            heads = sorted({int(m.group(1)) for key in state
                            if (m := re.fullmatch(r"head\.(\d+)\.weight", key))})
            dense = [(state[f"head.{i}.weight"], state[f"head.{i}.bias"]) for i in heads]
            relu = True
        elif kind == "fasttext":
            embedding, bias = state["embedding.bag.weight"], None
            dense = [(state["output.weight"], state["output.bias"])]
            relu = False
        else:
            raise UserError(f"model kind {kind!r} has no bag first layer; the bag models are "
                            f"{', '.join(BAG_KINDS)}")
    except KeyError as missing:
        raise UserError(f"the {kind} model's weights lack {missing.args[0]!r}; the bundle is "
                        "damaged, train it again") from None
    num_outputs = dense[-1][0].shape[0] if dense else embedding.shape[1]
    return BagNet(embedding, bias, dense, relu, output_activation(multi_label, num_outputs))
