"""Which rows make batch `step` of epoch `epoch`: a pure function of a few integers.

The sampler answers one question (torch's `sampler.py` does the same): given
(seed, epoch, step, rank, world_size), which row ids form the batch? Nothing
about the rows themselves lives here, so every batch set, every worker and a
resumed run all agree on the order.

Shuffling is global: each epoch is one permutation of all row ids, drawn from
`numpy.random.default_rng([seed, epoch])`, so every epoch has a new order and
the same seed gives the same orders on any machine.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass

import numpy as np

from streamfit.errors import OptionError, UserError, check_number


def _plain_int(name: str, value: object, minimum: int) -> int:
    """`value` as a plain int, or an `OptionError` naming `name` if it is not one >= `minimum`.

    `check_number` with the result made an `int` (numpy integers are accepted).
    """
    return int(check_number(name, value, minimum=minimum))


class EpochSampler:
    """Row ids of every batch of every epoch, for one shard of the data.

    Rank `r` of `world_size` ranks takes the rows at positions `r`, `r + W`,
    `r + 2W`, ... of each epoch's permutation, so the shards are disjoint and
    together hold every row exactly once per epoch. Within its shard a rank cuts
    batches of `batch_size` consecutive positions.

    Every rank has the same number of steps (`len`), so `DistributedDataParallel`
    never waits for a rank that ran out of batches. When `num_rows` is not a
    multiple of `world_size`, the first `num_rows % world_size` ranks hold one
    row more than the others, and the others' last batch is one row shorter.
    When that would leave a rank's last batch empty (the longer ranks' last
    batch holds a single row), the rank's second-to-last batch gives up its last
    row to it, so its last two batches hold `batch_size - 1` and 1 rows. No row
    is ever repeated to pad a shard. With `drop_remainder=True` every batch of
    every rank holds exactly `batch_size` rows and the leftover rows of the
    epoch (fewer than `world_size * batch_size`, a different set each epoch
    when shuffling) are skipped.

    Example:
        >>> sampler = EpochSampler(10, 4, seed=0, shuffle=False)
        >>> len(sampler), sampler.indices(0, 2).tolist()
        (3, [8, 9])

    Args:
        num_rows: rows in the whole data set (all shards).
        batch_size: rows per batch.
        seed: non-negative integer; the permutation of epoch `e` depends only
            on (seed, e).
        shuffle: a new permutation every epoch; False gives rows in file order.
        drop_remainder: skip the last partial batch instead of keeping it.
        rank: this shard, in `[0, world_size)`.
        world_size: number of shards (data-parallel processes).

    Raises:
        OptionError: an argument is out of range (named in the message); the rows
            cannot give every rank at least one row per step without repeating
            a row (fewer rows than ranks, or `batch_size=1` with rows that do not
            split evenly and `drop_remainder=False`); or `drop_remainder=True`
            leaves no batch at all.
    """

    def __init__(self, num_rows: int, batch_size: int, *, seed: int, shuffle: bool = True,
                 drop_remainder: bool = False, rank: int = 0, world_size: int = 1):
        self.num_rows = _plain_int("num_rows", num_rows, 1)
        self.batch_size = _plain_int("batch_size", batch_size, 1)
        self.seed = _plain_int("seed", seed, 0)
        self.world_size = _plain_int("world_size", world_size, 1)
        self.rank = int(check_number("rank", rank, minimum=0, below=self.world_size))
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)

        if self.drop_remainder:
            self._steps = (self.num_rows // self.world_size) // self.batch_size
            self._shard_rows = self._steps * self.batch_size
            if self._steps == 0:
                raise OptionError(
                    "batch_size", batch_size, f"with drop_remainder=True leaves no full batch of "
                    f"{self.num_rows // self.world_size} rows per rank; lower batch_size or set "
                    "drop_remainder=False")
        else:
            if self.num_rows < self.world_size:
                raise OptionError(
                    "num_rows", num_rows, f"is fewer than world_size={world_size}, so some rank "
                    "would get no rows; use fewer ranks")
            if self.batch_size == 1 and self.num_rows % self.world_size:
                raise OptionError(
                    "batch_size", batch_size, f"cannot give the {world_size} ranks the same number "
                    f"of steps over num_rows={num_rows} without repeating a row; set "
                    "drop_remainder=True or batch_size >= 2")
            self._shard_rows = len(range(self.rank, self.num_rows, self.world_size))
            self._steps = math.ceil(math.ceil(self.num_rows / self.world_size) / self.batch_size)

        # The current epoch's permutation, a few bytes per row; one epoch only,
        # so memory does not grow with the number of epochs.
        self._cache: tuple[int, np.ndarray] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Steps per epoch, the same on every rank."""
        return self._steps

    @property
    def num_samples(self) -> int:
        """Rows this rank sees per epoch."""
        return self._shard_rows

    def permutation(self, epoch: int) -> np.ndarray:
        """Return the order of all row ids in `epoch` (cached for the latest epoch).

        Args:
            epoch: 0-based epoch.

        Returns:
            A read-only array of `num_rows` row ids, int32 when they fit.
        """
        epoch = _plain_int("epoch", epoch, 0)
        with self._lock:
            if self._cache is None or self._cache[0] != epoch:
                dtype = np.int32 if self.num_rows < 2**31 else np.int64
                order = np.arange(self.num_rows, dtype=dtype)
                if self.shuffle:
                    # Shuffling in place keeps the peak at one array of the small dtype.
                    np.random.default_rng([self.seed, epoch]).shuffle(order)
                order.flags.writeable = False
                self._cache = (epoch, order)
            return self._cache[1]

    def _shard_bounds(self, step: int) -> tuple[int, int]:
        lo = step * self.batch_size
        hi = min(lo + self.batch_size, self._shard_rows)
        if self._shard_rows == (self._steps - 1) * self.batch_size:
            # A shorter rank whose last batch would be empty: move one row into it.
            if step == self._steps - 1:
                lo = self._shard_rows - 1
            elif step == self._steps - 2:
                hi = self._shard_rows - 1
        return lo, hi

    def indices(self, epoch: int, step: int) -> np.ndarray:
        """Return the row ids of batch `step` of `epoch` for this rank.

        Args:
            epoch: 0-based epoch.
            step: 0-based batch index, in `[0, len(self))`.

        Returns:
            int64 row ids; `batch_size` of them except in the last batch (or the
            last two, see the class docstring).

        Raises:
            OptionError: `epoch` or `step` out of range.
        """
        step = int(check_number("step", step, minimum=0, below=self._steps))
        lo, hi = self._shard_bounds(step)
        # Shard position p is position rank + p * world_size of the epoch's order.
        begin = self.rank + lo * self.world_size
        end = self.rank + hi * self.world_size
        if not self.shuffle:
            _plain_int("epoch", epoch, 0)
            return np.arange(begin, end, self.world_size, dtype=np.int64)
        return self.permutation(epoch)[begin:end:self.world_size].astype(np.int64)

    def __getstate__(self) -> dict:
        # Workers rebuild the permutation themselves; pickles stay a few bytes.
        state = self.__dict__.copy()
        state["_cache"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


@dataclass(frozen=True)
class SamplerState:
    """Where a run stands: the next batch to train on is `step` of `epoch`.

    With the sampler's other arguments (saved with the run's configuration)
    these three integers are enough to resume exactly where a run stopped.
    """

    seed: int
    epoch: int
    step: int

    def state_dict(self) -> dict[str, int]:
        """Return `{"seed", "epoch", "step"}` as plain ints, ready for JSON."""
        return {key: int(value) for key, value in asdict(self).items()}

    @classmethod
    def from_state_dict(cls, state: dict) -> SamplerState:
        """Build a state from `state_dict()` output (for example read back from JSON).

        Raises:
            UserError: a key is missing or is not a non-negative integer.
        """
        values = {}
        for key in ("seed", "epoch", "step"):
            if key not in state:
                raise UserError(f"sampler state has no {key!r}; the checkpoint is incomplete")
            values[key] = _plain_int(f"sampler state {key}", state[key], 0)
        return cls(**values)
