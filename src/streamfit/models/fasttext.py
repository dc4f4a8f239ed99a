"""A fastText-style classifier: the mean of word and n-gram vectors, then a linear layer.

fastText (Joulin et al. 2016, "Bag of Tricks for Efficient Text
Classification") averages the input vectors of a document's words and hashed
word n-grams and feeds the average to a linear classifier. Here the average
is an `EmbeddingBag(mode="sum")` over `HashedNgrams` rows with mean weights
(each row's weights sum to 1), so a batch costs only its non-zeros. As in
fastText, input vectors start U(-1/dim, 1/dim) and the output layer at zero.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from streamfit.errors import check_number
from streamfit.models.layers import SparseLinear, output_units


class FastTextModel(nn.Module):
    """Bag of word and n-gram embeddings, then logits.

    Args:
        num_features: columns of the input rows (`HashedNgrams.num_features`:
            vocabulary plus buckets).
        num_classes: number of classes (>= 2).
        dim: embedding size (default 10, fastText's for classification in
            its paper and the benchmark's setting; larger costs memory and
            time for little accuracy on bag-of-n-gram data).
        sparse_grad: sparse gradients for the embedding table, so a step
            updates only the rows in the batch; needed to be fast with
            millions of buckets, and needs an optimizer that accepts sparse
            gradients (`torch.optim.SparseAdam` for the table, `SGD`,
            `Adagrad`).
        multi_label: one logit per label (`num_classes` of them, also for
            two): fastText's one-vs-all (`-loss ova`).

    Input: `torch.sparse_csr_tensor` `[n, num_features]` float32 (mean or
    count weights) or a dense float tensor. Output: float32 logits `[n, 1]`
    when `num_classes == 2` (binary: pair with `BCEWithLogitsLoss`), else
    `[n, num_classes]` (`CrossEntropyLoss`; with `multi_label`,
    `BCEWithLogitsLoss` on multi-hot targets).
    """

    accepts_sparse = True

    def __init__(self, num_features: int, num_classes: int, dim: int = 10,
                 sparse_grad: bool = False, multi_label: bool = False):
        super().__init__()
        check_number("num_features", num_features, minimum=1)
        check_number("dim", dim, minimum=1)
        self.num_features = num_features
        self.num_classes = num_classes
        self.dim = dim
        self.sparse_grad = sparse_grad
        self.multi_label = multi_label
        self.num_outputs = output_units(num_classes, multi_label)
        self.embedding = SparseLinear(num_features, dim, init="fasttext", bias=False,
                                      sparse_grad=sparse_grad)
        self.output = nn.Linear(dim, self.num_outputs)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.embedding(x))

    @property
    def output_bias(self) -> nn.Parameter:
        """The biases of the output logits, `[num_outputs]`.

        The recipe starts a multi-label model's at each label's prior log-odds.
        """
        return self.output.bias

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready: `FastTextModel(**config)` rebuilds it."""
        return {"num_features": self.num_features, "num_classes": self.num_classes,
                "dim": self.dim, "sparse_grad": self.sparse_grad, "multi_label": self.multi_label}
