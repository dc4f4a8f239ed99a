"""What users pass as data: arrays, batch sets, generators, validation splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from streamfit.batches import ArrayBatches
from streamfit.errors import UserError
from streamfit.training.data import batch_source, split_validation, validation_source


def test_arrays_become_array_batches_with_the_seed():
    source, steps = batch_source(np.zeros((10, 2)), np.zeros(10), batch_size=4, seed=3)
    assert isinstance(source, ArrayBatches) and steps == 3 and source.seed == 3


def test_batch_sets_and_generators_pass_through(helpers):
    batches = helpers.ListBatches([(1, 2)] * 4)
    assert batch_source(batches) == (batches, 4)
    assert batch_source(batches, steps=2) == (batches, 2)
    generator = iter([])
    assert batch_source(generator, steps=5) == (generator, 5)
    with pytest.raises(UserError, match="^steps_per_epoch is required with a generator: .*"
                                        "pass steps_per_epoch=ceil"):
        batch_source(generator)
    with pytest.raises(UserError, match="x is None"):
        batch_source(None)


def test_split_holds_out_the_last_fraction_of_every_array():
    x = {"a": np.arange(10), "b": sp.csr_matrix(np.eye(10))}
    (x_train, y_train, w_train), (x_val, y_val, w_val) = split_validation(
        x, np.arange(10) * 10, None, 0.3)
    assert x_train["a"].tolist() == list(range(7)) and x_val["a"].tolist() == [7, 8, 9]
    assert x_val["b"].shape == (3, 10) and y_val.tolist() == [70, 80, 90]
    assert w_train is None and w_val is None and len(y_train) == 7
    with pytest.raises(UserError, match="must be between 0 and 1"):
        split_validation(np.zeros(10), None, None, 1.5)
    with pytest.raises(UserError, match="leaves an empty side"):
        split_validation(np.zeros(1), None, None, 0.5)


def test_validation_tuples_are_batched_in_order():
    source, steps = validation_source((np.arange(5), np.arange(5)), batch_size=2, steps=None)
    assert steps == 3 and source.batch(0, 0)[0].tolist() == [0, 1]
    source, _ = validation_source((np.arange(4), np.arange(4), np.ones(4)), batch_size=4, steps=None)
    assert len(source.batch(0, 0)) == 3
    with pytest.raises(UserError, match="^validation_steps is required with a generator"):
        validation_source(iter([]), batch_size=2, steps=None)
