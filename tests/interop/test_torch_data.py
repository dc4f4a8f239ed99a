import multiprocessing

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from streamfit.batches import ArrayBatches
from streamfit.interop.torch_data import TorchBatches


def rows_of_epoch(data, **loader_args):
    batches = list(DataLoader(data, batch_size=None, **loader_args))
    return batches, torch.cat([x for x, _ in batches]).tolist()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_workers_yield_every_row_once(num_workers):
    data = TorchBatches(ArrayBatches(np.arange(103), np.arange(103) % 2, batch_size=10, seed=4))
    orders = []
    for epoch in range(2):
        data.set_epoch(epoch)
        batches, rows = rows_of_epoch(data, num_workers=num_workers)
        assert len(batches) == 11
        assert sorted(rows) == list(range(103))
        for x, y in batches:
            assert torch.equal(y, x % 2)
        orders.append(rows)
    assert orders[0] != orders[1]
    assert multiprocessing.active_children() == []


def test_items_are_the_batch_set_batches():
    batch_set = ArrayBatches(np.arange(20), batch_size=6, seed=1)
    data = TorchBatches(batch_set, epoch=3)
    assert len(data) == 4
    x, y = data[2]
    assert np.array_equal(x, batch_set.batch(3, 2)[0])
    assert y is None
    with pytest.raises(IndexError):
        data[4]
