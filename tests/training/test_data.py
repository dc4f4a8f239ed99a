"""What users pass as data: arrays, batch sets, generators, validation splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from streamfit.batches import ArrayBatches
from streamfit.errors import OptionError, UserError
from streamfit.training.data import batch_set, split_validation, validation_batches


def test_arrays_become_array_batches_with_the_seed():
    batches, steps = batch_set(np.zeros((10, 2)), np.zeros(10), batch_size=4, seed=3)
    assert isinstance(batches, ArrayBatches) and steps == 3 and batches.seed == 3


def test_batch_sets_and_generators_pass_through(helpers):
    batches = helpers.ListBatches([(1, 2)] * 4)
    assert batch_set(batches) == (batches, 4)
    assert batch_set(batches, steps=2) == (batches, 2)
    generator = iter([])
    assert batch_set(generator, steps=5) == (generator, 5)
    with pytest.raises(UserError, match="^steps_per_epoch is required with a generator: .*"
                                        "pass steps_per_epoch=ceil"):
        batch_set(generator)
    with pytest.raises(UserError, match="x is None"):
        batch_set(None)
    with pytest.raises(OptionError, match=r"^steps_per_epoch=0 must be an integer >= 1$"):
        batch_set(batches, steps=0)


def test_split_holds_out_the_last_fraction_of_every_array():
    x = {"a": np.arange(10), "b": sp.csr_matrix(np.eye(10))}
    (x_train, y_train, w_train), (x_val, y_val, w_val) = split_validation(
        x, np.arange(10) * 10, None, 0.3)
    assert x_train["a"].tolist() == list(range(7)) and x_val["a"].tolist() == [7, 8, 9]
    assert x_val["b"].shape == (3, 10) and y_val.tolist() == [70, 80, 90]
    assert w_train is None and w_val is None and len(y_train) == 7
    with pytest.raises(OptionError, match=r"^validation_split=1\.5 must be a number in \[0, 1\)$"):
        split_validation(np.zeros(10), None, None, 1.5)
    with pytest.raises(OptionError, match=r"^validation_split='0\.3' must be a number"):
        split_validation(np.zeros(10), None, None, "0.3")
    with pytest.raises(UserError, match="leaves an empty side"):
        split_validation(np.zeros(1), None, None, 0.5)


def test_validation_tuples_are_batched_in_order():
    batches, steps = validation_batches((np.arange(5), np.arange(5)), batch_size=2, steps=None)
    assert steps == 3 and batches.batch(0, 0)[0].tolist() == [0, 1]
    batches, _ = validation_batches((np.arange(4), np.arange(4), np.ones(4)), batch_size=4, steps=None)
    assert len(batches.batch(0, 0)) == 3
    with pytest.raises(UserError, match="^validation_steps is required with a generator"):
        validation_batches(iter([]), batch_size=2, steps=None)


def test_what_holds_rows_is_arrays_and_what_holds_batches_is_a_sequence():
    from streamfit.training.data import is_sequence

    class Batches:
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.zeros((3, 2)), np.zeros(3)

    assert is_sequence(Batches())
    for rows in (np.zeros(3), sp.csr_matrix(np.eye(3)), [1, 2], (1, 2), {"a": np.zeros(2)},
                 range(3), "abc"):
        assert not is_sequence(rows)
    batches, steps = batch_set(range(10), np.arange(10), batch_size=4)
    assert isinstance(batches, ArrayBatches) and steps == 3
