import json

import numpy as np
import pytest

from streamfit.errors import OptionError, UserError
from streamfit.sampling import EpochSampler, SamplerState


def epoch_rows(sampler, epoch):
    return [sampler.indices(epoch, step) for step in range(len(sampler))]


def test_unshuffled_rows_in_order_with_partial_last_batch():
    sampler = EpochSampler(10, 4, seed=0, shuffle=False)
    assert len(sampler) == 3
    assert [b.tolist() for b in epoch_rows(sampler, 5)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sampler.num_samples == 10


def test_drop_remainder_keeps_full_batches_only():
    sampler = EpochSampler(10, 4, seed=0, shuffle=False, drop_remainder=True)
    assert len(sampler) == 2
    assert [b.tolist() for b in epoch_rows(sampler, 0)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sampler.num_samples == 8


def test_each_epoch_is_a_new_permutation_of_all_rows():
    sampler = EpochSampler(1000, 64, seed=7)
    orders = [np.concatenate(epoch_rows(sampler, epoch)) for epoch in range(3)]
    for order in orders:
        assert order.dtype == np.int64
        assert sorted(order.tolist()) == list(range(1000))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(1000))


def test_same_seed_same_order_and_pure_in_epoch_and_step():
    a = EpochSampler(500, 32, seed=3)
    b = EpochSampler(500, 32, seed=3)
    # Visit b's epochs out of order: the result must not depend on call history.
    expected = {(e, s): a.indices(e, s) for e in range(3) for s in range(len(a))}
    for e in (2, 0, 1):
        for s in reversed(range(len(b))):
            assert np.array_equal(b.indices(e, s), expected[e, s])
    assert not np.array_equal(EpochSampler(500, 32, seed=4).indices(0, 0), expected[0, 0])


def test_permutation_is_stored_compactly():
    sampler = EpochSampler(100, 10, seed=1)
    assert sampler.permutation(0).dtype == np.int32


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("num_rows,batch_size", [(10, 3), (17, 4), (13, 2), (9, 5), (7, 2), (101, 8)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_are_disjoint_cover_every_row_and_have_equal_steps(
        world_size, num_rows, batch_size, shuffle):
    if num_rows < world_size:
        pytest.skip("fewer rows than ranks is an error, tested below")
    samplers = [EpochSampler(num_rows, batch_size, seed=11, shuffle=shuffle,
                             rank=r, world_size=world_size) for r in range(world_size)]
    assert len({len(s) for s in samplers}) == 1
    for epoch in range(2):
        batches = [epoch_rows(s, epoch) for s in samplers]
        rows = np.concatenate([b for rank in batches for b in rank])
        assert sorted(rows.tolist()) == list(range(num_rows))
        for rank in batches:
            sizes = [len(b) for b in rank]
            assert all(1 <= size <= batch_size for size in sizes)
        assert sum(s.num_samples for s in samplers) == num_rows


def test_uneven_shards_last_batch_one_row_shorter():
    # 10 rows, 4 ranks: ranks 0-1 hold 3 rows, ranks 2-3 hold 2.
    shards = [EpochSampler(10, 2, seed=0, shuffle=False, rank=r, world_size=4) for r in range(4)]
    assert [len(s) for s in shards] == [2, 2, 2, 2]
    assert [b.tolist() for b in epoch_rows(shards[0], 0)] == [[0, 4], [8]]
    assert [b.tolist() for b in epoch_rows(shards[3], 0)] == [[3], [7]]


def test_short_rank_never_gets_an_empty_last_batch():
    # 9 rows, 2 ranks, batch 4: rank 0 holds 5 rows (4 + 1), rank 1 holds 4.
    shards = [EpochSampler(9, 4, seed=0, shuffle=False, rank=r, world_size=2) for r in range(2)]
    assert [b.tolist() for b in epoch_rows(shards[0], 0)] == [[0, 2, 4, 6], [8]]
    assert [b.tolist() for b in epoch_rows(shards[1], 0)] == [[1, 3, 5], [7]]


def test_drop_remainder_with_shards_gives_full_batches():
    shards = [EpochSampler(23, 3, seed=5, drop_remainder=True, rank=r, world_size=3)
              for r in range(3)]
    rows = []
    for s in shards:
        assert len(s) == 2
        for b in epoch_rows(s, 1):
            assert len(b) == 3
            rows.extend(b.tolist())
    assert len(set(rows)) == 18


@pytest.mark.parametrize("kwargs,name,option", [
    (dict(num_rows=10, batch_size=0, seed=0), "batch_size", "batch_size"),
    (dict(num_rows=0, batch_size=2, seed=0), "num_rows", "num_rows"),
    (dict(num_rows=10, batch_size=2, seed=0, rank=2, world_size=2), "rank", "rank"),
    (dict(num_rows=10, batch_size=2, seed=0, rank=-1, world_size=2), "rank", "rank"),
    (dict(num_rows=10, batch_size=2, seed=-1), "seed", "seed"),
    (dict(num_rows=3, batch_size=2, seed=0, world_size=4), "world_size", "num_rows"),
    (dict(num_rows=3, batch_size=1, seed=0, world_size=2), "batch_size=1", "batch_size"),
    (dict(num_rows=3, batch_size=4, seed=0, drop_remainder=True), "batch_size", "batch_size"),
])
def test_bad_arguments_name_the_argument(kwargs, name, option):
    with pytest.raises(OptionError, match=name) as caught:
        EpochSampler(**kwargs)
    assert caught.value.option == option and caught.value.value == kwargs[option]


def test_step_out_of_range():
    with pytest.raises(OptionError, match=r"^step=3 must be an integer in \[0, 3\)$"):
        EpochSampler(10, 4, seed=0).indices(0, 3)


def test_numpy_integers_are_accepted_as_plain_ints():
    sampler = EpochSampler(np.int64(10), np.int32(4), seed=np.uint8(0), shuffle=False)
    assert type(sampler.num_rows) is int and type(sampler.batch_size) is int
    assert sampler.indices(0, np.int64(2)).tolist() == [8, 9]


def test_pickled_sampler_gives_the_same_batches():
    import pickle

    sampler = EpochSampler(50, 8, seed=2)
    sampler.indices(0, 0)
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy._cache is None
    assert np.array_equal(copy.indices(0, 3), sampler.indices(0, 3))


def test_sampler_state_round_trip_through_json():
    state = SamplerState(seed=42, epoch=3, step=17)
    data = json.loads(json.dumps(state.state_dict()))
    assert data == {"seed": 42, "epoch": 3, "step": 17}
    assert SamplerState.from_state_dict(data) == state


def test_sampler_state_missing_key():
    with pytest.raises(UserError, match="'step'"):
        SamplerState.from_state_dict({"seed": 1, "epoch": 0})
