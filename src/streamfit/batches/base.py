"""The batch set: batches addressed by (epoch, step), never pulled.

A batch is a tuple `(x, y)` or `(x, y, sample_weight)`; `x` and `y` are a
numpy array, an `np.matrix`, a scipy sparse matrix, or a dict of them keyed by
the module's `forward` argument names (inputs) or output names (targets).
`y` is None for unlabelled data (prediction).
"""

from __future__ import annotations

from typing import Any

Batch = tuple[Any, ...]


class BatchSet:
    """Base class of every batch set.

    A batch set knows how many batches an epoch has (`len`) and computes batch
    `step` of epoch `epoch` as a pure function of its own configuration,
    `epoch` and `step`. Workers can therefore fetch batches by step in any
    order and never duplicate or drop one; resuming needs only two integers.

    Subclasses implement `__len__` and `batch`. A subclass whose state is big
    (arrays, open files) should keep pickling cheap (`__getstate__`) so that
    process workers can open the data themselves.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def batch(self, epoch: int, step: int) -> Batch:
        """Return batch `step` (0-based) of epoch `epoch` (0-based)."""
        raise NotImplementedError

    @property
    def num_samples(self) -> int | None:
        """Rows per epoch, when known."""
        return None
