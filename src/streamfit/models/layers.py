"""Building blocks shared by the models: a Dense layer over sparse rows, Keras' init.

`SparseLinear` is a Keras `Dense` layer whose input is a sparse row vector
(TF-IDF, bag of n-grams): an `nn.EmbeddingBag(mode="sum")` over the row's
column indices weighted by its values, plus a bias. It touches only the
non-zeros, so a 20,000-wide TF-IDF batch costs what its few hundred n-grams
per row cost, never a dense matmul.

On the CPU the weight's gradient `x^T @ grad` is computed by scipy's
compressed-column kernel (`_SparseRowsMatmul`): one pass over the non-zeros.
torch's dense `EmbeddingBag` backward sorts the indices first and took 5.2 ms
of a 5.3 ms IMDB step here (batch 512, 70k non-zeros, 50k x 32); scipy takes
0.4 ms. On other devices, in other dtypes and for sparse gradients the
`EmbeddingBag` backward is kept.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse
import torch
from torch import nn
from torch.nn import functional as F

from streamfit.errors import OptionError, check_number


def output_units(num_classes: int, multi_label: bool = False) -> int:
    """Logits of the output layer: 1 for two classes (binary), else one per class.

    Args:
        num_classes: the classes, or the labels of a multi-label model.
        multi_label: one logit per label, also for two (each label is a
            yes/no question of its own, trained with binary cross-entropy).

    Raises:
        OptionError: fewer than two classes (a classifier needs two), or a
            `multi_label` that is not a bool.
    """
    check_number("num_classes", num_classes, minimum=2)
    if not isinstance(multi_label, bool):
        raise OptionError("multi_label", multi_label, "must be True or False")
    return num_classes if multi_label or num_classes > 2 else 1


def check_dropout(dropout: float) -> None:
    """Raise an `OptionError` unless `0 <= dropout < 1`."""
    check_number("dropout", dropout, minimum=0, below=1, integer=False)


def glorot_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int) -> torch.Tensor:
    """Keras' default `glorot_uniform`: U(-a, a) with `a = sqrt(6 / (fan_in + fan_out))`."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.uniform_(-limit, limit)


def dense(in_features: int, out_features: int) -> nn.Linear:
    """An `nn.Linear` initialised as Keras' `Dense`: Glorot-uniform weights, zero bias."""
    layer = nn.Linear(in_features, out_features)
    glorot_uniform_(layer.weight, in_features, out_features)
    nn.init.zeros_(layer.bias)
    return layer


def sparse_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout on the stored values of a sparse CSR tensor (zeros stay zero).

    The same as dense dropout on the full row, without densifying it. A dense
    tensor gets ordinary dropout.
    """
    if not training or p == 0.0:
        return x
    if x.layout != torch.sparse_csr:
        return F.dropout(x, p, training)
    # The indices are x's own, already valid: skip the invariant checks.
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                   F.dropout(x.values(), p, training), size=x.shape,
                                   check_invariants=False)


class _SparseRowsMatmul(torch.autograd.Function):
    """`x @ weight` for CSR rows `x` = (crow, col, values), differentiable in `weight` only.

    Forward is `F.embedding_bag(mode="sum")`; backward is scipy's CSC kernel
    on `x^T` (the same arrays read column-wise, no copy or sort): a dense
    gradient equal to torch's, summed in a different order.
    """

    @staticmethod
    def forward(ctx, crow, col, values, weight):
        ctx.save_for_backward(crow, col, values)
        ctx.num_rows, ctx.weight_rows = len(crow) - 1, len(weight)
        return F.embedding_bag(col, weight, crow, mode="sum", per_sample_weights=values,
                               include_last_offset=True)

    @staticmethod
    def backward(ctx, grad_out):
        crow, col, values = ctx.saved_tensors
        x_t = scipy.sparse.csc_matrix((values.numpy(), col.numpy(), crow.numpy()),
                                      shape=(ctx.weight_rows, ctx.num_rows))
        grad = np.asarray(x_t @ grad_out.contiguous().numpy(), dtype=values.numpy().dtype)
        return None, None, None, torch.from_numpy(grad)

    @staticmethod
    def applies_to(weight: torch.Tensor, values: torch.Tensor) -> bool:
        """The scipy backward serves CPU float32/float64 data that needs no gradient of its own."""
        return (weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64)
                and values.dtype == weight.dtype and not values.requires_grad)


def sparse_rows_matmul(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor,
                       weight: torch.Tensor) -> torch.Tensor:
    """`x @ weight` for the CSR rows `x` = (crow, col, values) of width `len(weight)`.

    `crow` and `col` must share a dtype. The result is `[len(crow) - 1, weight.shape[1]]`.
    """
    if torch.is_grad_enabled() and weight.requires_grad and _SparseRowsMatmul.applies_to(weight, values):
        return _SparseRowsMatmul.apply(crow, col, values, weight)
    return F.embedding_bag(col, weight, crow, mode="sum", per_sample_weights=values,
                           include_last_offset=True)


class SparseLinear(nn.Module):
    """`y = x @ W + b` for sparse CSR rows `x`, via `EmbeddingBag(mode="sum")`.

    Args:
        in_features: width of the sparse rows (number of features).
        out_features: output units.
        init: `"glorot"` (Keras' Dense: U(+-sqrt(6/(in+out)))) or
            `"fasttext"` (U(+-1/out_features), fastText's input matrix).
        bias: add a learned bias (initialised to 0).
        sparse_grad: make the weight's gradient a sparse tensor (rows touched
            by the batch only); needs an optimizer that takes sparse
            gradients (`torch.optim.SparseAdam`, `SGD`, `Adagrad`).

    Input: a `torch.sparse_csr_tensor` `[n, in_features]` (int32 or int64
    indices, float values; an empty row gives the bias), or a dense float
    tensor `[n, in_features]`. Output: dense `[n, out_features]`.
    """

    def __init__(self, in_features: int, out_features: int, init: str = "glorot",
                 bias: bool = True, sparse_grad: bool = False):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.bag = nn.EmbeddingBag(in_features, out_features, mode="sum",
                                   include_last_offset=True, sparse=sparse_grad)
        if init == "glorot":
            glorot_uniform_(self.bag.weight, in_features, out_features)
        elif init == "fasttext":
            with torch.no_grad():
                self.bag.weight.uniform_(-1.0 / out_features, 1.0 / out_features)
        else:
            raise OptionError("init", init, "is unknown; use 'glorot' or 'fasttext'")
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.layout == torch.sparse_csr:
            crow, col = x.crow_indices(), x.col_indices()
            if crow.dtype != col.dtype:
                crow = crow.to(col.dtype)
            values = x.values().to(self.bag.weight.dtype)
            if self.bag.sparse:
                out = self.bag(col, crow, per_sample_weights=values)
            else:
                out = sparse_rows_matmul(crow, col, values, self.bag.weight)
        elif x.layout == torch.strided:
            out = x.to(self.bag.weight.dtype) @ self.bag.weight
        else:
            raise TypeError(f"{type(self).__name__} takes a sparse CSR or dense tensor, not "
                            f"{x.layout}; convert with tensor.to_sparse_csr()")
        return out if self.bias is None else out + self.bias
