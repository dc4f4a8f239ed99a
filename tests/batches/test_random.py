import numpy as np
import pytest
import scipy.sparse as sp

from streamfit.batches import RandomBatches
from streamfit.errors import OptionError, UserError


def test_len_defaults_to_one_pass_and_follows_steps():
    assert len(RandomBatches(np.arange(100), batch_size=8, seed=0)) == 13
    batches = RandomBatches(np.arange(100), batch_size=8, seed=0, steps=3)
    assert len(batches) == 3
    assert batches.num_samples == 24


def test_rows_drawn_with_replacement_stay_paired():
    x = np.arange(10)
    batches = RandomBatches(x, x * 10, batch_size=50, seed=1, steps=2)
    bx, by = batches.batch(0, 0)
    assert bx.shape == (50,)
    assert np.array_equal(by, bx * 10)
    assert set(bx.tolist()) <= set(range(10))
    assert len(set(bx.tolist())) < 50  # 50 draws from 10 rows must repeat


def test_pure_function_of_seed_epoch_index():
    x = np.arange(1000)
    a = RandomBatches(x, batch_size=16, seed=5)
    b = RandomBatches(x, batch_size=16, seed=5)
    assert np.array_equal(a.batch(2, 7)[0], b.batch(2, 7)[0])
    assert not np.array_equal(a.batch(0, 7)[0], a.batch(1, 7)[0])
    assert not np.array_equal(a.batch(0, 7)[0], a.batch(0, 8)[0])
    assert not np.array_equal(a.batch(0, 7)[0], RandomBatches(x, batch_size=16, seed=6).batch(0, 7)[0])


def test_seed_none_is_drawn_once():
    batches = RandomBatches(np.arange(100), batch_size=4)
    assert isinstance(batches.seed, int)
    again = RandomBatches(np.arange(100), batch_size=4, seed=batches.seed)
    assert np.array_equal(batches.batch(0, 1)[0], again.batch(0, 1)[0])


def test_sparse_and_dict_inputs():
    x = sp.random(30, 6, density=0.3, format="coo", random_state=0)
    batches = RandomBatches({"tfidf": x}, np.arange(30), batch_size=5, seed=2)
    bx, by = batches.batch(0, 0)
    assert bx["tfidf"].format == "csr"
    assert np.array_equal(bx["tfidf"].toarray(), x.toarray()[by])


def test_errors():
    with pytest.raises(UserError, match="y has 3 rows but x has 4"):
        RandomBatches(np.zeros(4), np.zeros(3))
    with pytest.raises(UserError, match="steps"):
        RandomBatches(np.zeros(4), steps=0)
    with pytest.raises(UserError, match="batch_size"):
        RandomBatches(np.zeros(4), batch_size=0)
    with pytest.raises(OptionError, match=r"^step=2 must be an integer in \[0, 2\)$") as error:
        RandomBatches(np.zeros(4), batch_size=2, seed=0).batch(0, 2)
    assert (error.value.option, error.value.value) == ("step", 2)
