"""A batch set as a torch `Dataset`, for your own training loop or PyTorch Lightning.

Item `i` is a whole batch, so the `DataLoader` must not batch again
(`batch_size=None`); its sampler then hands each index to exactly one worker,
so with any `num_workers` every row arrives once per epoch and no batch is
duplicated (the bug of Keras generators shared by workers).

Which epoch a pass serves, by the way the loader is made:

| loader | indices | epoch of each pass |
| --- | --- | --- |
| `data.loader(num_workers=..., ...)` | `(epoch, step)` pairs from `data.sampler()` | the next one each pass; `set_epoch` (yours or Lightning's) sets it |
| `DataLoader(data, batch_size=None, ...)` | steps `0..len-1` | the last `set_epoch`, also in persistent workers; never advances by itself |

The sampler runs in the main process, where each pass takes the next epoch
when it draws its first index, and the epoch travels with each index into the
workers: persistent workers, workers started afresh, and Lightning (which
calls the sampler's `set_epoch(current_epoch)` before each epoch) all serve
every row exactly once per epoch, in that epoch's order. Under a distributed
Lightning strategy, Lightning wraps this sampler in its own
`DistributedSamplerWrapper`, which splits (and pads) the epoch's batches
across ranks; to give each rank its own shard of rows instead, shard the
batch set (`PreparedBatches(..., rank=, world_size=)`) and pass
`use_distributed_sampler=False` to the `Trainer`.

Batches stay numpy / scipy: with `batch_size=None` the `DataLoader` applies
its `default_convert`, which turns numpy arrays (also inside tuples and dicts)
into tensors and leaves scipy sparse matrices and None as they are. For
sparse inputs pass your own `collate_fn`, or convert batches the way
`streamfit.training` does.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import OptionError, UserError, check_number

# DataLoader arguments that `TorchBatches.loader` decides itself, and why.
_LOADER_OWNS = {
    "batch_size": "each item is already a batch; set batch_size on the batch set",
    "shuffle": "the batch set shuffles each epoch itself; set seed or shuffle on the batch set",
    "sampler": "loader() uses data.sampler(); to pass your own, build DataLoader yourself",
    "batch_sampler": "each item is already a batch; set batch_size on the batch set",
    "drop_last": "each item is already a batch; drop rows in the batch set",
}


class TorchBatches(Dataset):
    """Map-style dataset: item `step` is batch `step` of the current epoch, `(e, step)` of epoch `e`.

    Example:
        >>> import numpy as np
        >>> from streamfit.batches import ArrayBatches
        >>> data = TorchBatches(ArrayBatches(np.arange(10), batch_size=4, seed=0))
        >>> loader = data.loader(num_workers=0)  # or num_workers=2, persistent_workers=True
        >>> epochs = [[x.tolist() for x, _ in loader] for _ in range(2)]  # two epochs
        >>> [sorted(sum(rows, [])) == list(range(10)) for rows in epochs]
        [True, True]
        >>> epochs[0] != epochs[1]
        True

    The epoch lives in shared memory, so `set_epoch` in the main process also
    reaches `DataLoader` workers that are already running
    (`persistent_workers=True`). One `TorchBatches` serves one loader: two
    loaders made from it would advance the same epoch.

    Args:
        batch_set: the batches (ArrayBatches, LineBatches, ...).
        epoch: the epoch that plain step indices serve, and that the
            sampler's next pass serves.

    Raises:
        OptionError: `epoch` is not an integer >= 0.
    """

    def __init__(self, batch_set: BatchSet, epoch: int = 0):
        if not isinstance(batch_set, BatchSet):
            raise UserError(f"TorchBatches(batch_set=...) got a {type(batch_set).__name__}; give "
                            "a streamfit BatchSet such as ArrayBatches(x, y, batch_size=32)")
        self.batch_set = batch_set
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        """The epoch that plain step indices serve, and that the sampler's next pass serves."""
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Serve the batches of `epoch` from the next pass on (and to plain step indices).

        Raises:
            OptionError: `epoch` is not an integer >= 0.
        """
        self._epoch.fill_(int(check_number("epoch", epoch, minimum=0)))

    def _start_pass(self) -> int:
        """The epoch of the pass that starts now; the next pass serves the one after it."""
        epoch = self.epoch
        self._epoch.fill_(epoch + 1)
        return epoch

    def sampler(self) -> EpochStepSampler:
        """A sampler whose every pass yields `(epoch, step)` for each step of the next epoch.

        Give it to `DataLoader(data, batch_size=None, sampler=data.sampler())`
        (what `loader` does).
        """
        return EpochStepSampler(self)

    def loader(self, **dataloader_args: Any) -> DataLoader:
        """A `DataLoader` that serves each pass the next epoch, every row exactly once.

        Args:
            **dataloader_args: any `DataLoader` argument (`num_workers`,
                `persistent_workers`, `pin_memory`, `collate_fn`,
                `prefetch_factor`, `multiprocessing_context`, ...) but the
                ones that would batch or reorder again.

        Returns:
            `DataLoader(self, batch_size=None, sampler=self.sampler(), ...)`.

        Raises:
            OptionError: `batch_size`, `shuffle`, `sampler`, `batch_sampler` or
                `drop_last` was given.
        """
        for name, why in _LOADER_OWNS.items():
            if name in dataloader_args:
                raise OptionError(name, dataloader_args[name],
                                  f"is not a TorchBatches.loader argument: {why}")
        return DataLoader(self, batch_size=None, sampler=self.sampler(), **dataloader_args)

    def __len__(self) -> int:
        return len(self.batch_set)

    def __getitem__(self, index: int | tuple[int, int]) -> Batch:
        """Return batch `index` of the current epoch, or batch `step` of epoch `e` for `(e, step)`.

        Raises:
            IndexError: the step is outside `[0, len(self))`.
            UserError: the index is neither a step nor an `(epoch, step)` pair.
        """
        if isinstance(index, (tuple, list)) and len(index) == 2:
            epoch, step = index
        else:
            epoch, step = None, index
        if not isinstance(step, numbers.Integral) or not (
                epoch is None or isinstance(epoch, numbers.Integral) and epoch >= 0):
            raise UserError(f"TorchBatches[{index!r}]: give a step (an int) or an "
                            "(epoch, step) pair of ints >= 0")
        if not 0 <= step < len(self.batch_set):
            raise IndexError(f"batch {step} is outside [0, {len(self.batch_set)})")
        return self.batch_set.batch(self.epoch if epoch is None else int(epoch), int(step))


class EpochStepSampler(Sampler):
    """Yields `(epoch, step)` for every step of one epoch per pass, the next epoch each pass.

    It runs in the `DataLoader`'s main process; a pass starts when its first
    index is drawn, and the pairs carry its epoch to the workers.

    Args:
        data: the `TorchBatches` whose epoch it reads and advances.
    """

    def __init__(self, data: TorchBatches):
        self.data = data

    def set_epoch(self, epoch: int) -> None:
        """Serve `epoch` on the next pass (Lightning calls this before each epoch)."""
        self.data.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # A generator, so the pass starts at its first index: the DataLoader
        # makes (and drops) an extra sampler iterator when it starts workers.
        epoch = self.data._start_pass()
        for step in range(len(self.data)):
            yield epoch, step
