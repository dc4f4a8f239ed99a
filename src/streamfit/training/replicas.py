"""`fit` in one of several processes: the DDP module, each rank's share, sums over ranks.

`Model.fit` trains data-parallel when a process group of more than one rank
is running (see `streamfit.distributed`): the module is wrapped in
`DistributedDataParallel`, which averages gradients over ranks, and the loop
asks `Replicas` three things so that every rank computes the same numbers
and takes the same decisions:

| question | when | answer |
| --- | --- | --- |
| `share(rows)` | each step, before `backward` | this rank's rows times ranks over the global batch's rows |
| `any_rank(...)` | each step, after the callbacks | whether any rank stops, is interrupted, or checkpoints |
| `total(running)` | epoch end, validation end, checkpoint | loss and metric sums over all ranks |

With `share`, the averaged gradient is the gradient of the global batch's
mean loss even when ranks hold different row counts (the last batches of an
epoch may differ by a row): the result matches one process training on
batches of `world_size` times the rows, up to float rounding.
"""

from __future__ import annotations

import torch
from torch.nn.parallel import DistributedDataParallel

from streamfit import distributed
from streamfit.batches.base import BatchSet
from streamfit.errors import UserError
from streamfit.sampling.sampler import EpochSampler
from streamfit.training.metrics import RunningMeans


class Replicas:
    """This process's part in data-parallel training.

    Args:
        module: the model's module, already on its device (for CUDA, this
            rank's `cuda:LOCAL_RANK`).
        device: that device.

    Attributes:
        module: the `DistributedDataParallel` wrapper that training steps call.
        rank: this process's rank.
        world_size: the number of ranks.
    """

    def __init__(self, module: torch.nn.Module, device: torch.device):
        self.rank = distributed.rank()
        self.world_size = distributed.world_size()
        self.module = DistributedDataParallel(
            module, device_ids=[device.index if device.index is not None else distributed.local_rank()]
            if device.type == "cuda" else None)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_sharded(self, source: object, argument: str) -> None:
        """Refuse a batch set that every rank would read whole.

        Raises:
            UserError: a batch set whose sampler is not this rank's shard.
        """
        sampler = getattr(source, "sampler", None)
        if not isinstance(source, BatchSet) or not isinstance(sampler, EpochSampler):
            return  # a generator or a custom set: the caller shards it
        if (sampler.rank, sampler.world_size) != (self.rank, self.world_size):
            raise UserError(
                f"{argument} is shard {sampler.rank} of {sampler.world_size}, but this process is "
                f"rank {self.rank} of {self.world_size}; build it with rank={self.rank}, "
                f"world_size={self.world_size} (as PreparedBatches takes them) so each rank reads "
                "its own rows")

    def share(self, rows: int) -> float:
        """The factor on this rank's mean loss that makes DDP's average the global batch's mean."""
        total = distributed.all_reduce([float(rows)])[0]
        return rows * self.world_size / total

    def any_rank(self, *flags: bool) -> list[bool]:
        """Each flag, set on every rank when it is set on any."""
        return distributed.any_rank(*flags)

    def total(self, running: RunningMeans) -> RunningMeans:
        """The running sums and rows of all ranks added up (every rank has the same names).

        A metric's summed counts (`Totals`: precision, AUC, ...) are added
        count by count, so its value over all ranks is exact.
        """
        names = sorted(running.sums)
        sizes = {name: running.sums[name].numel() for name in names if name in running.totals}
        flat = [float(running.rows)]
        for name in names:
            value = running.sums[name]
            flat.extend(value.double().cpu().tolist() if name in sizes else [float(value)])
        values = iter(distributed.all_reduce(flat))
        rows = int(next(values))
        sums: dict = {}
        for name in names:
            if name in sizes:
                sums[name] = torch.tensor([next(values) for _ in range(sizes[name])], dtype=torch.float64)
            else:
                sums[name] = next(values)
        return RunningMeans(sums, rows, running.totals)

    def mean(self, value: float) -> float:
        """The mean of a per-rank value over ranks (the data-wait fraction)."""
        return distributed.all_reduce([value])[0] / self.world_size
