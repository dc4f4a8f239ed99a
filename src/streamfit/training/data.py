"""Turn what the user passes as data into a batch set (or a generator) and a step count.

| x | becomes | steps per pass |
| --- | --- | --- |
| arrays (numpy, `np.matrix`, scipy sparse, dicts of them) | `ArrayBatches` | `len()` of it |
| a `BatchSet` | itself (it owns batch size and shuffling) | `len()` unless given |
| a generator / iterator of batches | itself, pulled by one producer | required |

A generator is consumed as one endless stream: epoch 2 continues where epoch
1 stopped, as in Keras.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scipy.sparse

from streamfit.batches import ArrayBatches, BatchSet
from streamfit.errors import UserError, check_number


def is_arrays(x: Any) -> bool:
    """Whether `x` is in-memory arrays rather than a batch set or a generator."""
    return not isinstance(x, (BatchSet, Iterator))


def batch_set(x: Any, y: Any = None, *, sample_weight: Any = None, batch_size: int = 32,
              shuffle: bool = True, seed: int | None = None, steps: int | None = None,
              steps_arg: str = "steps_per_epoch", data_arg: str = "x") -> tuple[Any, int]:
    """Wrap `x` (and `y`) as a batch set (a generator stays one) and work out the steps per pass.

    Args:
        x: arrays, a `BatchSet`, or an iterator yielding batches.
        y: targets for arrays; must be None otherwise (the batches hold them).
        sample_weight: per-row weights for arrays.
        batch_size: rows per batch, for arrays.
        shuffle: reshuffle arrays each epoch.
        seed: the shuffle's seed, for arrays.
        steps: batches per pass; default all of a batch set or of the arrays.
        steps_arg: the argument name that error messages give for `steps`.
        data_arg: the argument name that error messages give for `x`.

    Returns:
        `(batches, steps)`: a `BatchSet` or an iterator, and the step count.

    Raises:
        UserError: no data, a generator without `steps`, or `y` given with a
            batch set or generator.
        OptionError: steps that are not a positive integer.
    """
    if x is None:
        raise UserError(f"{data_arg} is None; give arrays, a BatchSet or a generator of batches")
    if is_arrays(x):
        batches = ArrayBatches(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed,
                               sample_weight=sample_weight)
    else:
        if y is not None or sample_weight is not None:
            raise UserError(
                f"{data_arg} is a {type(x).__name__} but y or sample_weight was given too; "
                "a batch set or generator yields (x, y) or (x, y, sample_weight) itself")
        batches = x
    if steps is None:
        if not isinstance(batches, BatchSet):
            raise UserError(
                f"{steps_arg} is required with a generator: it cannot tell where an epoch "
                f"ends; pass {steps_arg}=ceil(num_samples / batch_size)")
        steps = len(batches)
    return batches, int(check_number(steps_arg, steps, minimum=1))


def _rows(value: Any) -> int:
    while isinstance(value, dict):
        value = next(iter(value.values()))
    return value.shape[0] if hasattr(value, "shape") else len(value)


def _slice(value: Any, start: int, stop: int | None) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: _slice(item, start, stop) for key, item in value.items()}
    if scipy.sparse.issparse(value):
        value = value.tocsr()
    return value[start:stop]


def split_validation(x: Any, y: Any, sample_weight: Any,
                     validation_split: float) -> tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]]:
    """Hold out the last `validation_split` of the rows, before any shuffling (as Keras).

    Returns:
        `((x, y, sample_weight) to train on, (x, y, sample_weight) to validate on)`.

    Raises:
        OptionError: a split outside [0, 1).
        UserError: data that is not arrays, or a split that leaves no rows on
            one side.
    """
    check_number("validation_split", validation_split, minimum=0, below=1, integer=False)
    if not is_arrays(x):
        raise UserError(
            f"validation_split needs in-memory arrays, but x is a {type(x).__name__}; "
            "pass validation_data= (a generator, a BatchSet or an (x, y) tuple) instead")
    rows = _rows(x)
    cut = int(rows * (1.0 - validation_split))
    if cut == 0 or cut == rows:
        raise UserError(
            f"validation_split={validation_split} of {rows} rows leaves an empty side; "
            "use a split that keeps rows for both training and validation")
    return ((_slice(x, 0, cut), _slice(y, 0, cut), _slice(sample_weight, 0, cut)),
            (_slice(x, cut, None), _slice(y, cut, None), _slice(sample_weight, cut, None)))


def validation_batches(validation_data: Any, *, batch_size: int,
                       steps: int | None) -> tuple[Any, int]:
    """The batch set of `validation_data` (a generator, a `BatchSet`, or a tuple) and its steps.

    A tuple is `(x, y)` or `(x, y, sample_weight)` of in-memory arrays, batched
    in order. A batch set is always read as its epoch 0, so every validation
    pass sees the same batches.

    Raises:
        UserError: a tuple of the wrong length, or a generator without `steps`.
    """
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) not in (2, 3):
            raise UserError(
                f"validation_data is a {type(validation_data).__name__} of "
                f"{len(validation_data)} items; give (x, y) or (x, y, sample_weight)")
        x, y, *rest = validation_data
        return batch_set(x, y, sample_weight=rest[0] if rest else None, batch_size=batch_size,
                         shuffle=False, steps=steps, steps_arg="validation_steps",
                         data_arg="validation_data")
    return batch_set(validation_data, steps=steps, steps_arg="validation_steps",
                     data_arg="validation_data")
