import multiprocessing

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from streamfit.batches import ArrayBatches
from streamfit.errors import OptionError, UserError
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


def rows_of_epoch_from(loader):
    return torch.cat([x for x, _ in loader]).tolist()


def epoch_rows(batch_set, epoch):
    return np.concatenate([batch_set.batch(epoch, i)[0] for i in range(len(batch_set))]).tolist()


@pytest.mark.parametrize("num_workers,persistent_workers", [(0, False), (2, False), (2, True)])
def test_loader_reshuffles_every_pass_without_set_epoch(num_workers, persistent_workers):
    batch_set = ArrayBatches(np.arange(45), np.arange(45) % 2, batch_size=10, seed=4)
    loader = TorchBatches(batch_set).loader(num_workers=num_workers,
                                            persistent_workers=persistent_workers)
    orders = [rows_of_epoch_from(loader) for _ in range(3)]
    for epoch, rows in enumerate(orders):
        assert rows == epoch_rows(batch_set, epoch)
        assert sorted(rows) == list(range(45))
    assert len({tuple(rows) for rows in orders}) == 3
    del loader
    assert multiprocessing.active_children() == []


def test_set_epoch_wins_over_the_pass_counter():
    batch_set = ArrayBatches(np.arange(20), batch_size=6, seed=2)
    data = TorchBatches(batch_set)
    loader = data.loader()
    data.set_epoch(5)
    assert rows_of_epoch_from(loader) == epoch_rows(batch_set, 5)
    assert rows_of_epoch_from(loader) == epoch_rows(batch_set, 6)
    loader.sampler.set_epoch(2)  # as Lightning does before each epoch
    assert rows_of_epoch_from(loader) == epoch_rows(batch_set, 2)
    assert data.epoch == 3
    assert list(data.sampler()) == [(3, 0), (3, 1), (3, 2), (3, 3)]


def test_set_epoch_reaches_persistent_workers():
    batch_set = ArrayBatches(np.arange(30), batch_size=4, seed=5)
    data = TorchBatches(batch_set)
    loader = DataLoader(data, batch_size=None, num_workers=2, persistent_workers=True)
    for epoch in range(3):
        data.set_epoch(epoch)
        assert rows_of_epoch_from(loader) == epoch_rows(batch_set, epoch)
    del loader
    assert multiprocessing.active_children() == []


def test_pairs_address_any_epoch_and_bad_arguments_say_the_fix():
    batch_set = ArrayBatches(np.arange(20), batch_size=6, seed=1)
    data = TorchBatches(batch_set)
    np.testing.assert_array_equal(data[(3, 1)][0], batch_set.batch(3, 1)[0])
    assert data.epoch == 0
    with pytest.raises(IndexError):
        data[(0, 4)]
    with pytest.raises(UserError, match=r"give a step \(an int\) or an \(epoch, step\) pair"):
        data[(-1, 0)]
    with pytest.raises(OptionError, match="^shuffle=True is not a TorchBatches.loader argument"):
        data.loader(shuffle=True)
    with pytest.raises(OptionError, match="^batch_size=32 .*set batch_size on the batch set"):
        data.loader(batch_size=32)
    with pytest.raises(OptionError, match="^epoch=-1 must be"):
        data.set_epoch(-1)
    with pytest.raises(UserError, match="give a streamfit BatchSet"):
        TorchBatches(np.arange(3))
