"""A batch set as a torch `Dataset`, for users with their own training loop.

Item `i` is a whole batch (batch `i` of the current epoch), so the
`DataLoader` must not batch again: pass `batch_size=None`. Its sampler then
hands each index to exactly one worker, so with any `num_workers` every row
arrives once per epoch and no batch is duplicated (the bug of Keras generators
shared by workers).

Batches stay numpy / scipy: with `batch_size=None` the `DataLoader` applies
its `default_convert`, which turns numpy arrays (also inside tuples and dicts)
into tensors and leaves scipy sparse matrices and None as they are. For
sparse inputs pass your own `collate_fn`, or convert batches the way
`streamfit.training` does.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import check_number


class TorchBatches(Dataset):
    """Map-style dataset whose item `i` is batch `i` of epoch `epoch`.

    Example:
        >>> import numpy as np
        >>> from torch.utils.data import DataLoader
        >>> from streamfit.batches import ArrayBatches
        >>> data = TorchBatches(ArrayBatches(np.arange(10), batch_size=4, seed=0))
        >>> for epoch in range(2):
        ...     data.set_epoch(epoch)
        ...     rows = [x for x, _ in DataLoader(data, batch_size=None, num_workers=0)]
        >>> len(rows)
        3

    Call `set_epoch` before each epoch to get that epoch's shuffle. Workers
    hold a copy of this object made when the `DataLoader` starts iterating, so
    with `persistent_workers=True` they would keep the old epoch; leave it
    False (the default).

    Args:
        batch_set: the batches (ArrayBatches, LineBatches, ...).
        epoch: the epoch whose batches are served until `set_epoch`.
    """

    def __init__(self, batch_set: BatchSet, epoch: int = 0):
        self.batch_set = batch_set
        self.epoch = int(check_number("epoch", epoch, minimum=0))

    def set_epoch(self, epoch: int) -> None:
        """Serve the batches of `epoch` from now on."""
        self.epoch = int(check_number("epoch", epoch, minimum=0))

    def __len__(self) -> int:
        return len(self.batch_set)

    def __getitem__(self, index: int) -> Batch:
        """Return batch `index` of the current epoch.

        Raises:
            IndexError: `index` is outside `[0, len(self))`.
        """
        if not 0 <= index < len(self.batch_set):
            raise IndexError(f"batch {index} is outside [0, {len(self.batch_set)})")
        return self.batch_set.batch(self.epoch, index)
