"""Batches of a prepared dataset: sampled row ids, taken from disk, featurized."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from streamfit.batches.base import Batch, BatchSet
from streamfit.prepare.cache import PreparedSplit
from streamfit.sampling.sampler import EpochSampler

Featurize = Callable[[np.ndarray, np.ndarray], Any]


class PreparedBatches(BatchSet):
    """Batch `step` of epoch `epoch` of a prepared split, as `(x, y)`.

    The sampler picks the row ids (a global shuffle per epoch, sharded for
    distributed training), the split reads their token ids from disk, and
    `featurize(offsets, ids)` turns them into model input (a CSR matrix of
    TF-IDF weights, padded sequences, ...). `y` holds int64 class ids, or for
    a multi-label split a dense float32 multi-hot array `[batch, num_classes]`
    (1 where the row has the label): one batch of it is small (128 rows x
    1,000 labels is 512 KB), and the split itself keeps only label lists.

    Args:
        split: the prepared rows.
        featurize: a feature extractor's `transform`.
        batch_size: rows per batch.
        shuffle: a new global order every epoch (training); False keeps file order.
        seed: the shuffle seed.
        drop_remainder: skip the last partial batch.
        rank: this process's shard, for distributed training.
        world_size: number of shards.
    """

    def __init__(self, split: PreparedSplit, featurize: Featurize, batch_size: int = 128, *,
                 shuffle: bool = True, seed: int = 0, drop_remainder: bool = False,
                 rank: int = 0, world_size: int = 1):
        self.split = split
        self.featurize = featurize
        self.sampler = EpochSampler(len(split), batch_size, seed=seed, shuffle=shuffle,
                                    drop_remainder=drop_remainder, rank=rank, world_size=world_size)

    def __len__(self) -> int:
        return len(self.sampler)

    @property
    def num_samples(self) -> int:
        return self.sampler.num_samples

    def batch(self, epoch: int, step: int) -> Batch:
        rows = self.sampler.indices(epoch, step)
        offsets, ids, labels = self.split.take(rows)
        if self.multi_label:
            return self.featurize(offsets, ids), labels.toarray()
        return self.featurize(offsets, ids), labels.astype(np.int64)

    @property
    def multi_label(self) -> bool:
        """Whether `y` is multi-hot (the split holds several labels per row)."""
        return bool(getattr(self.split, "multi_label", False))

    @property
    def num_classes(self) -> int:
        """The width of multi-hot `y` (the split's number of classes)."""
        return self.split.num_classes
