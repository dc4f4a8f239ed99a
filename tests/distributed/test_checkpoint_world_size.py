"""Checkpoints across ranks and world sizes, without starting processes."""

from pathlib import Path

import pytest
import torch

from streamfit import Model
from streamfit.batches.base import BatchSet
from streamfit.errors import UserError
from streamfit.sampling.sampler import EpochSampler
from streamfit.training.checkpoint import (
    Checkpoint,
    check_fingerprint,
    fingerprint_of,
    for_world_size,
)


class Shard(BatchSet):
    """Rows 0..rows-1 sharded as `PreparedBatches(rank=, world_size=)` shards them."""

    def __init__(self, rows, batch_size, rank=0, world_size=1):
        self.sampler = EpochSampler(rows, batch_size, seed=0, rank=rank, world_size=world_size)

    def __len__(self):
        return len(self.sampler)

    @property
    def num_samples(self):
        return self.sampler.num_samples

    def batch(self, epoch, index):
        rows = self.sampler.indices(epoch, index)
        return rows.reshape(-1, 1).astype("float32"), rows % 2


def fingerprint(rows=101, global_batch=16, rank=0, world_size=1):
    torch.manual_seed(0)
    model = Model(torch.nn.Linear(1, 2), loss="sparse_categorical_crossentropy", seed=3)
    source = Shard(rows, global_batch // world_size, rank, world_size)
    validation = (Shard(40, 512 // world_size, rank, world_size), 1)
    return fingerprint_of(model, source, len(source), validation, None, {"data": "key"}, world_size)


def checkpoint(step=5, **kw):
    meta = {"fingerprint": fingerprint(**kw), "position": {"seed": 3, "epoch": 1, "step": step},
            "epoch_begun": True, "running": {"rows": 80, "floats": {}},
            "time": {"wait_seconds": 0.1, "seconds": 2.0}}
    tensors = {"running": {"loss": torch.tensor(40.0)}, "module": {}}
    return Checkpoint(Path("ckpt-000009-e0002-s000005.json"), meta, tensors)


def test_the_other_rank_of_the_same_world_size_accepts_rank_0s_checkpoint():
    check_fingerprint(checkpoint(world_size=2), fingerprint(rank=1, world_size=2))
    with pytest.raises(UserError, match=r"data\.num_rows is 101 in the checkpoint but 99 now"):
        check_fingerprint(checkpoint(world_size=2), fingerprint(rows=99, rank=1, world_size=2))


def test_another_world_size_is_accepted_with_the_same_global_batch_only():
    check_fingerprint(checkpoint(world_size=2), fingerprint(world_size=1))
    check_fingerprint(checkpoint(world_size=1), fingerprint(rank=3, world_size=4))
    with pytest.raises(UserError, match=r"data\.global_batch_size is 16 in the checkpoint but 32 now"):
        check_fingerprint(checkpoint(world_size=2), fingerprint(global_batch=32, world_size=1))


def test_the_same_world_size_resumes_in_place_another_restarts_the_epoch():
    same = checkpoint(world_size=2)
    assert for_world_size(same, 2) is same
    with pytest.warns(UserWarning, match=r"^ckpt-000009-e0002-s000005\.json was written by 2 "
                      r"processes and this run has 1: resuming at the start of epoch 2; its 5 steps "
                      r"done in that epoch are trained again$"):
        restarted = for_world_size(same, 1)
    assert (restarted.epoch, restarted.step, restarted.meta["epoch_begun"]) == (1, 0, False)
    assert restarted.meta["running"] == {"rows": 0, "floats": {}} and restarted.tensors["running"] == {}
    assert restarted.meta["fingerprint"] == same.meta["fingerprint"]
    with pytest.warns(UserWarning, match=r"this run has 4: resuming at the start of epoch 2$"):
        for_world_size(checkpoint(step=0, world_size=2), 4)
