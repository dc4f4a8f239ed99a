"""The guide's multi-layer perceptron over n-gram vectors, with a sparse first layer.

The guide's `mlp_model` (Keras):

    Dropout(rate, input_shape=...)
    for _ in range(layers - 1):
        Dense(units, activation="relu"); Dropout(rate)
    Dense(op_units, activation=op_activation)

`NgramMLP` is that architecture with the same initialisation (Glorot-uniform
weights, zero biases), except that the first Dense layer reads the sparse
TF-IDF row through an `EmbeddingBag` (`SparseLinear`) and the input dropout
drops the row's stored values. The Glorot initialisation matters: torch's
default N(0, 1) for embeddings learns far slower.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from streamfit.errors import check_number
from streamfit.models.layers import SparseLinear, check_dropout, dense, output_units, sparse_dropout

#: The most layers an `NgramMLP` has (the guide's have 1 to 4).
MAX_LAYERS = 1000


class NgramMLP(nn.Module):
    """The guide's MLP: `layers - 1` hidden ReLU layers of `units`, then logits.

    Args:
        num_features: width of the input rows (e.g. the TF-IDF's top_k).
        num_classes: number of classes (>= 2).
        layers: Dense layers including the output (default 2, the guide's:
            one hidden layer of `units`); 1 is a linear model.
        units: width of the hidden layers (default 64).
        dropout: rate of the dropout on the input and after each hidden
            layer (default 0.2).
        multi_label: one logit per label (`num_classes` of them, also for
            two), for rows that carry any number of the labels.

    Input: `torch.sparse_csr_tensor` `[n, num_features]` float32 (or a dense
    float tensor). Output: float32 logits `[n, 1]` when `num_classes == 2`
    (binary: pair with `BCEWithLogitsLoss`, Keras' binary_crossentropy on
    the sigmoid), else `[n, num_classes]` (pair with `CrossEntropyLoss`,
    Keras' sparse_categorical_crossentropy on the softmax). With
    `multi_label`, `[n, num_classes]` for `BCEWithLogitsLoss` on multi-hot
    targets (Keras' sigmoid and binary_crossentropy).
    """

    accepts_sparse = True

    def __init__(self, num_features: int, num_classes: int, layers: int = 2, units: int = 64,
                 dropout: float = 0.2, multi_label: bool = False):
        super().__init__()
        check_number("num_features", num_features, minimum=1)
        # 1: the output layer alone; the bound keeps a tampered config from building for ever
        check_number("layers", layers, minimum=1, below=MAX_LAYERS + 1)
        check_number("units", units, minimum=1)
        check_dropout(dropout)
        self.num_features = num_features
        self.num_classes = num_classes
        self.layers = layers
        self.units = units
        self.dropout = dropout
        self.multi_label = multi_label
        self.num_outputs = output_units(num_classes, multi_label)
        first_width = units if layers > 1 else self.num_outputs
        self.input_layer = SparseLinear(num_features, first_width)
        hidden: list[nn.Module] = []
        if layers > 1:
            hidden += [nn.ReLU(), nn.Dropout(dropout)]
            for _ in range(layers - 2):
                hidden += [dense(units, units), nn.ReLU(), nn.Dropout(dropout)]
            hidden.append(dense(units, self.num_outputs))
        self.head = nn.Sequential(*hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = sparse_dropout(x, self.dropout, self.training)
        return self.head(self.input_layer(x))

    @property
    def output_bias(self) -> nn.Parameter:
        """The biases of the output logits, `[num_outputs]`.

        The recipe starts a multi-label model's at each label's prior log-odds.
        """
        return self.head[-1].bias if self.layers > 1 else self.input_layer.bias

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready: `NgramMLP(**config)` rebuilds it."""
        return {"num_features": self.num_features, "num_classes": self.num_classes,
                "layers": self.layers, "units": self.units, "dropout": self.dropout,
                "multi_label": self.multi_label}
