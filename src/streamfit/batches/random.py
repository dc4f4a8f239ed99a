"""Batches of rows drawn at random with replacement.

The seed code's `generate_batch_data_random` did this, in essence, as an endless generator:

    def generate_batch_data_random(x, y, batch_size):
        ylen = len(y)
        loopcount = ylen // batch_size
        while True:
            i = randint(0, loopcount)
            yield x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size]

It picked whole fixed blocks (so the same rows always shared a batch), could
not be split between workers, and could not be replayed. Here each batch is
`batch_size` rows drawn independently, a pure function of (seed, epoch, step).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamfit.batches.arrays import prepare_arrays, random_seed, take_rows
from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import check_number


class RandomBatches(BatchSet):
    """Batches of `batch_size` rows drawn uniformly with replacement.

    A row can appear twice in one batch and some rows are missed in an epoch;
    use `ArrayBatches` to see every row exactly once per epoch.

    Example:
        >>> batches = RandomBatches(np.arange(100), np.arange(100), batch_size=8, seed=0)
        >>> len(batches), batches.batch(0, 0)[0].shape
        (13, (8,))

    Args:
        x: inputs, the same kinds as `ArrayBatches` (numpy, `np.matrix`, scipy
            sparse, dicts of them).
        y: targets of the same kinds, or None.
        batch_size: rows per batch.
        seed: seed of the draws; None draws one now (kept in `.seed`).
        steps: batches per epoch; None gives `ceil(rows / batch_size)`, about
            one pass worth of rows.

    Raises:
        UserError: arrays of different lengths, no rows, or a bad `batch_size`,
            `seed` or `steps` (named).
    """

    def __init__(self, x: Any, y: Any = None, batch_size: int = 32, seed: int | None = None,
                 steps: int | None = None):
        self.x, self.y, _, self.num_rows = prepare_arrays("RandomBatches", x, y)
        self.batch_size = int(check_number("batch_size", batch_size, minimum=1))
        self.seed = int(check_number("seed", random_seed() if seed is None else seed, minimum=0))
        self.steps = (math.ceil(self.num_rows / self.batch_size) if steps is None
                      else int(check_number("steps", steps, minimum=1)))

    def __len__(self) -> int:
        return self.steps

    @property
    def num_samples(self) -> int:
        """Rows drawn per epoch (with repeats)."""
        return self.steps * self.batch_size

    def indices(self, epoch: int, step: int) -> np.ndarray:
        """Return the row ids of batch `step` of `epoch` (int64, with repeats).

        Raises:
            OptionError: `epoch` or `step` is not an integer in range.
        """
        epoch = int(check_number("epoch", epoch, minimum=0))
        step = int(check_number("step", step, minimum=0, below=self.steps))
        rng = np.random.default_rng([self.seed, epoch, step])
        return rng.integers(0, self.num_rows, size=self.batch_size, dtype=np.int64)

    def batch(self, epoch: int, step: int) -> Batch:
        """Return batch `step` of `epoch` as `(x, y)`, `y` None without targets."""
        rows = self.indices(epoch, step)
        return take_rows(self.x, rows), take_rows(self.y, rows)
