import numpy as np

from streamfit.prepare.split import validation_mask


def test_same_rows_for_any_chunking_and_the_fraction_is_close():
    whole = validation_mask(0, 10_000, 0.2, seed=3)
    parts = np.concatenate([validation_mask(s, 1000, 0.2, seed=3) for s in range(0, 10_000, 1000)])
    assert np.array_equal(whole, parts)
    assert 0.18 < whole.mean() < 0.22


def test_seed_changes_the_rows_and_zero_fraction_holds_out_nothing():
    assert not np.array_equal(validation_mask(0, 1000, 0.5, 1), validation_mask(0, 1000, 0.5, 2))
    assert not validation_mask(0, 1000, 0.0, 1).any()
