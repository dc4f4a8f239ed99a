import numpy as np
import pytest
import scipy.sparse as sp

from streamfit.batches import ArrayBatches
from streamfit.errors import UserError


def all_batches(batches, epoch):
    return [batches.batch(epoch, i) for i in range(len(batches))]


def test_exact_rows_in_order_without_shuffle():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10) * 10
    batches = ArrayBatches(x, y, batch_size=4, shuffle=False)
    assert len(batches) == 3
    assert batches.num_samples == 10
    got = all_batches(batches, 0)
    assert [b[0].tolist() for b in got] == [
        [[0, 1], [2, 3], [4, 5], [6, 7]], [[8, 9], [10, 11], [12, 13], [14, 15]],
        [[16, 17], [18, 19]]]
    assert [b[1].tolist() for b in got] == [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90]]


def test_rows_stay_paired_and_reshuffle_each_epoch_with_same_multiset():
    x = np.arange(100)
    batches = ArrayBatches(x, x * 2, batch_size=16, seed=1)
    orders = []
    for epoch in range(3):
        got = all_batches(batches, epoch)
        assert [len(b[0]) for b in got] == [16] * 6 + [4]
        for bx, by in got:
            assert np.array_equal(by, bx * 2)
        order = np.concatenate([b[0] for b in got])
        assert sorted(order.tolist()) == list(range(100))
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def test_batch_is_pure_function_of_seed_epoch_index():
    x = np.arange(50)
    a = ArrayBatches(x, batch_size=8, seed=9)
    b = ArrayBatches(x, batch_size=8, seed=9)
    assert np.array_equal(a.batch(2, 3)[0], b.batch(2, 3)[0])


def test_seed_none_draws_one_seed_once():
    batches = ArrayBatches(np.arange(50), batch_size=8)
    assert isinstance(batches.seed, int)
    assert np.array_equal(batches.batch(1, 2)[0], batches.batch(1, 2)[0])
    again = ArrayBatches(np.arange(50), batch_size=8, seed=batches.seed)
    assert np.array_equal(again.batch(1, 2)[0], batches.batch(1, 2)[0])


def test_y_none_gives_x_and_none():
    x, y = ArrayBatches(np.arange(5), batch_size=2, shuffle=False).batch(0, 0)
    assert x.tolist() == [0, 1]
    assert y is None


def test_drop_remainder():
    batches = ArrayBatches(np.arange(10), np.arange(10), batch_size=4, shuffle=False,
                           drop_remainder=True)
    assert len(batches) == 2
    assert batches.num_samples == 8
    assert batches.batch(0, 1)[0].tolist() == [4, 5, 6, 7]


def test_dicts_of_inputs_and_outputs():
    x = {"input_1": np.arange(6), "input_2": np.arange(6) * -1}
    y = {"output": np.arange(6) + 100}
    bx, by = ArrayBatches(x, y, batch_size=4, shuffle=False).batch(0, 1)
    assert set(bx) == {"input_1", "input_2"}
    assert bx["input_1"].tolist() == [4, 5]
    assert bx["input_2"].tolist() == [-4, -5]
    assert by["output"].tolist() == [104, 105]


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_np_matrix_becomes_plain_rows():
    x = np.matrix(np.arange(12).reshape(6, 2))
    bx, _ = ArrayBatches(x, batch_size=4, shuffle=False).batch(0, 1)
    assert type(bx) is np.ndarray
    assert bx.tolist() == [[8, 9], [10, 11]]


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_any_format_gives_csr_slices(fmt):
    dense = np.zeros((7, 5))
    dense[np.arange(7), np.arange(7) % 5] = np.arange(1, 8)
    x = sp.csr_matrix(dense).asformat(fmt)
    batches = ArrayBatches(x, np.arange(7), batch_size=3, seed=4)
    assert sp.isspmatrix_csr(batches.x)
    for bx, by in all_batches(batches, 1):
        assert sp.issparse(bx) and bx.format == "csr"
        assert np.array_equal(bx.toarray(), dense[by])


def test_sample_weight_follows_its_rows():
    x = np.arange(10)
    bx, by, bw = ArrayBatches(x, x, batch_size=3, seed=0, sample_weight=x / 10).batch(0, 2)
    assert np.allclose(bw, bx / 10)


@pytest.mark.parametrize("kwargs,message", [
    (dict(x=np.zeros((5, 2)), y=np.zeros(4)), "y has 4 rows but x has 5"),
    (dict(x={"a": np.zeros(5), "b": np.zeros(6)}), r"x\['b'\] has 6 rows but x\['a'\] has 5"),
    (dict(x=np.zeros(5), y=np.zeros(5), sample_weight=np.zeros(3)), "sample_weight has 3 rows"),
    (dict(x=np.zeros(5), sample_weight=np.zeros(5)), "sample_weight needs targets"),
    (dict(x=np.zeros(0)), "no rows"),
    (dict(x=np.zeros(5), batch_size=0), "batch_size"),
])
def test_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        ArrayBatches(**kwargs)
