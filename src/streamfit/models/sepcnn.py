"""The guide's sepCNN: depthwise-separable 1-D convolutions over word embeddings.

The guide's `sepcnn_model` (Keras):

    Embedding(num_features, embedding_dim)
    for _ in range(blocks - 1):
        Dropout(rate)
        SeparableConv1D(filters, kernel_size, activation="relu", padding="same") x 2
        MaxPooling1D(pool_size)
    SeparableConv1D(filters * 2, kernel_size, activation="relu", padding="same") x 2
    GlobalAveragePooling1D()
    Dropout(rate)
    Dense(op_units, activation=op_activation)

`SepCNN` is that network with Keras' initialisers: embeddings and depthwise
kernels and conv biases U(-0.05, 0.05) (the guide asks for `random_uniform`),
pointwise kernels and the output layer Glorot-uniform.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from streamfit.errors import check_number
from streamfit.models.layers import check_dropout, dense, glorot_uniform_, output_units

_UNIFORM = 0.05
"""Keras' `random_uniform` initialiser range."""

#: The most conv blocks of a `SepCNN` (the guide's have 1 to 3).
MAX_BLOCKS = 100


class SeparableConv1d(nn.Module):
    """Keras' `SeparableConv1D(padding="same", activation="relu")` on `[n, channels, length]`.

    A depthwise convolution (one `kernel_size` filter per channel, no bias)
    then a pointwise 1x1 convolution to `filters` channels with bias, then ReLU.
    """

    def __init__(self, channels: int, filters: int, kernel_size: int):
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, kernel_size, padding="same",
                                   groups=channels, bias=False)
        self.pointwise = nn.Conv1d(channels, filters, 1)
        with torch.no_grad():
            self.depthwise.weight.uniform_(-_UNIFORM, _UNIFORM)
            self.pointwise.bias.uniform_(-_UNIFORM, _UNIFORM)
        glorot_uniform_(self.pointwise.weight, channels, filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pointwise(self.depthwise(x)))


class SepCNN(nn.Module):
    """The guide's separable CNN over padded word-id sequences.

    Args:
        num_words: embedding rows, i.e. ids in `[0, num_words)` (the
            `Sequences` extractor's `num_words`).
        num_classes: number of classes (>= 2).
        embedding_dim: word vector size (default 200).
        blocks: conv blocks; `blocks - 1` of them pool (default 2).
        filters: channels of the pooled blocks; the last block has twice as
            many (default 64).
        kernel_size: convolution width (default 3).
        pool_size: max-pooling width and stride (default 3). A sequence
            shorter than it is padded with zeros on the right first, which
            cannot change a max over ReLU outputs.
        dropout: rate before each pooled block and before the output.
        multi_label: one logit per label (`num_classes` of them, also for
            two), for rows that carry any number of the labels.

    Input: int64 `[n, length]` word ids (0 is padding). Output: float32
    logits `[n, 1]` when `num_classes == 2` (binary: pair with
    `BCEWithLogitsLoss`), else `[n, num_classes]` (`CrossEntropyLoss`; with
    `multi_label`, `BCEWithLogitsLoss` on multi-hot targets).
    """

    accepts_sparse = False

    def __init__(self, num_words: int, num_classes: int, embedding_dim: int = 200,
                 blocks: int = 2, filters: int = 64, kernel_size: int = 3, pool_size: int = 3,
                 dropout: float = 0.2, multi_label: bool = False):
        super().__init__()
        check_number("num_words", num_words, minimum=1)
        for option, value in (("embedding_dim", embedding_dim), ("filters", filters),
                              ("kernel_size", kernel_size), ("pool_size", pool_size)):
            check_number(option, value, minimum=1)
        # Each pooled block divides the length by pool_size: a few are all there can be.
        check_number("blocks", blocks, minimum=1, below=MAX_BLOCKS + 1)
        check_dropout(dropout)
        self.num_words = num_words
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.blocks = blocks
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.dropout = dropout
        self.multi_label = multi_label
        self.num_outputs = output_units(num_classes, multi_label)

        self.embedding = nn.Embedding(num_words, embedding_dim)
        with torch.no_grad():
            self.embedding.weight.uniform_(-_UNIFORM, _UNIFORM)
        self.pooled_blocks = nn.ModuleList()
        channels = embedding_dim
        for _ in range(blocks - 1):
            self.pooled_blocks.append(nn.Sequential(
                nn.Dropout(dropout),
                SeparableConv1d(channels, filters, kernel_size),
                SeparableConv1d(filters, filters, kernel_size)))
            channels = filters
        self.last_block = nn.Sequential(
            SeparableConv1d(channels, filters * 2, kernel_size),
            SeparableConv1d(filters * 2, filters * 2, kernel_size))
        self.output_dropout = nn.Dropout(dropout)
        self.output = dense(filters * 2, self.num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embedding(x).transpose(1, 2)  # [n, embedding_dim, length]
        for block in self.pooled_blocks:
            h = block(h)
            if h.shape[-1] < self.pool_size:
                h = F.pad(h, (0, self.pool_size - h.shape[-1]))
            h = F.max_pool1d(h, self.pool_size)
        h = self.last_block(h).mean(dim=-1)
        return self.output(self.output_dropout(h))

    @property
    def output_bias(self) -> nn.Parameter:
        """The biases of the output logits, `[num_outputs]`.

        The recipe starts a multi-label model's at each label's prior log-odds.
        """
        return self.output.bias

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready: `SepCNN(**config)` rebuilds it."""
        return {"num_words": self.num_words, "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim, "blocks": self.blocks,
                "filters": self.filters, "kernel_size": self.kernel_size,
                "pool_size": self.pool_size, "dropout": self.dropout,
                "multi_label": self.multi_label}
