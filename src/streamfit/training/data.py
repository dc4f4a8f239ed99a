"""Turn what the user passes as data into a batch set (or a generator) and a step count.

| x | becomes | steps per pass |
| --- | --- | --- |
| arrays (numpy, `np.matrix`, scipy sparse, dicts of them) | `ArrayBatches` | `len()` of it |
| a `BatchSet` | itself (it owns batch size and shuffling) | `len()` unless given |
| a Keras `Sequence` / `PyDataset`, any `__len__` + `__getitem__` object | `SequenceBatches` | `len()` unless given |
| a torch `Dataset` (one sample per index) | `SampleBatches`: `batch_size` samples, collated | `len()` of it |
| a torch `DataLoader` | its passes, one after another, pulled by one producer | `len(loader)` unless given |
| a generator / iterator of batches | itself, pulled by one producer | required |

A generator is consumed as one endless stream: epoch 2 continues where epoch
1 stopped, as in Keras. A sequence is read by index, so workers fetch each
batch exactly once and an epoch ends after `len(seq)` batches even when
`__getitem__` never raises `IndexError`.
"""

from __future__ import annotations

import array
import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch.utils.data import default_collate

from streamfit.batches import ArrayBatches, BatchSet
from streamfit.batches.arrays import random_seed
from streamfit.batches.base import Batch
from streamfit.errors import UserError, check_number
from streamfit.loader import BatchLoader
from streamfit.sampling import EpochSampler


def is_sequence(x: Any) -> bool:
    """Whether `x` is a Keras `Sequence` / `PyDataset` or another batch-by-index object.

    Anything with `__len__` and `__getitem__` counts, except what holds rows
    rather than batches: arrays (numpy, scipy sparse, torch, pandas: all have
    `shape`), lists, tuples, ranges, `array.array`s, dicts and strings, and
    torch datasets and loaders (see `batch_set`).
    """
    kind = type(x)
    if isinstance(x, (BatchSet, Iterator, list, tuple, dict, range, str, bytes, bytearray,
                      memoryview, array.array, torch.utils.data.Dataset,
                      torch.utils.data.DataLoader)) or hasattr(x, "shape"):
        return False
    return _is_keras_sequence(x) or (hasattr(kind, "__len__") and hasattr(kind, "__getitem__"))


def _is_keras_sequence(x: Any) -> bool:
    # Without importing Keras: `keras.utils.Sequence` is `PyDataset` in Keras 3.
    return any(base.__name__ in ("PyDataset", "Sequence")
               and base.__module__.split(".")[0] in ("keras", "tensorflow", "tf_keras")
               for base in type(x).__mro__)


def is_arrays(x: Any) -> bool:
    """Whether `x` is in-memory arrays rather than a batch set, a sequence or a generator."""
    return not isinstance(x, (BatchSet, Iterator, torch.utils.data.Dataset,
                              torch.utils.data.DataLoader)) and not is_sequence(x)


def whole_number(value: Any) -> Any:
    """`value` as an int when it is a float with no fractional part (`len(x) / batch_size`)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def check_steps(steps_arg: str, steps: Any) -> int:
    """A step count as an int: integers and whole floats (`8.0`); else an `OptionError`.

    Raises:
        OptionError: e.g. `steps_per_epoch=8.5 must be an integer >= 1`.
    """
    return int(check_number(steps_arg, whole_number(steps), minimum=1))


def check_data(x: Any, data_arg: str) -> None:
    """Refuse a generator function or a class given where what it makes belongs.

    Raises:
        UserError: `pass gen(...), not gen`.
    """
    if inspect.isroutine(x) or inspect.isclass(x):
        name = getattr(x, "__name__", type(x).__name__)
        raise UserError(f"{data_arg} is the {'class' if inspect.isclass(x) else 'function'} "
                        f"{name}, not data; pass {name}(...), not {name}")


class SequenceBatches(BatchSet):
    """A Keras `Sequence` / `PyDataset` (or any `__len__` + `__getitem__` object) by index.

    Batch `step` of epoch `epoch` is `sequence[i]`, where `i` is `step`, or
    with `shuffle=True` the `step`-th index of a permutation of
    `range(len(sequence))` drawn from (seed, epoch): Keras' `fit(shuffle=True)`
    reorders a Sequence's batches every epoch too, with Python's unseeded
    `random`. Only indices below `len(sequence)` are read, so a sequence
    whose `__getitem__` never raises `IndexError` still ends its epoch. A
    Keras 3 `PyDataset` with `num_batches` None (endless) needs `steps`, and
    epoch `e` reads indices `e * steps + step`, continuing as Keras does.

    `on_epoch_begin` (Keras 3) and `on_epoch_end` of the sequence run in the
    consumer's process between passes (see `SequenceLoader`), never in a
    worker, so workers see the sequence as it stands for the whole pass.
    A checkpointed run resumes exactly when `sequence[i]` depends on `i`
    alone: what `on_epoch_end` changes inside the sequence is not saved.

    Args:
        sequence: the object indexed.
        shuffle: reorder the batches every epoch.
        seed: the reordering's seed; None draws one (kept in `.seed`).
        steps: batches per epoch, needed only when the length is unknown.

    Raises:
        UserError: an empty sequence, or an endless one without `steps`.
    """

    def __init__(self, sequence: Any, *, shuffle: bool = False, seed: int | None = None,
                 steps: int | None = None):
        self.sequence = sequence
        self.seed = random_seed() if seed is None else int(seed)
        # Keras 3's `num_batches` is `len()` where defined, None for an endless PyDataset.
        size = (sequence.num_batches if hasattr(type(sequence), "num_batches")
                else len(sequence))
        self.endless = size is None
        if self.endless:
            if steps is None:
                raise UserError(
                    f"the {type(sequence).__name__} has num_batches None (endless); pass "
                    "steps_per_epoch (or steps) to say how many batches make an epoch")
            size = steps
        if size == 0:
            raise UserError(f"the {type(sequence).__name__} has length 0; it holds no batches")
        self.sampler = EpochSampler(size, 1, seed=self.seed, shuffle=shuffle and not self.endless)

    def __len__(self) -> int:
        return len(self.sampler)

    def index(self, epoch: int, step: int) -> int:
        """The sequence index that batch `step` of `epoch` reads."""
        if self.endless:
            return epoch * len(self) + step
        return int(self.sampler.permutation(epoch)[step])

    def batch(self, epoch: int, step: int) -> Batch:
        """`sequence[index(epoch, step)]` as a tuple: a list becomes one, an array `(x,)`."""
        item = self.sequence[self.index(epoch, step)]
        if isinstance(item, list):
            return tuple(item)
        return item if isinstance(item, tuple) else (item,)

    def begin_pass(self) -> None:
        """Run the sequence's `on_epoch_begin`, if it has one."""
        hook = getattr(self.sequence, "on_epoch_begin", None)
        if callable(hook):
            hook()

    def end_pass(self) -> None:
        """Run the sequence's `on_epoch_end`, if it has one."""
        hook = getattr(self.sequence, "on_epoch_end", None)
        if callable(hook):
            hook()


class SampleBatches(BatchSet):
    """A map-style torch `Dataset` of single samples, `batch_size` of them per batch.

    Batch `step` of epoch `epoch` collates (with torch's `default_collate`,
    as a `DataLoader` does) the samples at `EpochSampler(...).indices(epoch,
    step)`: every sample once per epoch, reshuffled from (seed, epoch), the
    last batch partial, and computed by index, so workers never repeat one.

    Args:
        dataset: the dataset; `dataset[i]` is one sample, `(x, y)`,
            `(x, y, sample_weight)` or `x`, of tensors, arrays or numbers.
        batch_size: samples per batch.
        shuffle: a new order every epoch.
        seed: the order's seed; None draws one (kept in `.seed`).
    """

    def __init__(self, dataset: torch.utils.data.Dataset, *, batch_size: int = 32,
                 shuffle: bool = True, seed: int | None = None):
        self.dataset = dataset
        self.seed = random_seed() if seed is None else int(seed)
        self.sampler = EpochSampler(len(dataset), batch_size, seed=self.seed, shuffle=shuffle)

    def __len__(self) -> int:
        return len(self.sampler)

    @property
    def num_samples(self) -> int:
        return self.sampler.num_samples

    def batch(self, epoch: int, step: int) -> Batch:
        """The collated samples of batch `step` of `epoch`, as a tuple."""
        samples = [self.dataset[int(i)] for i in self.sampler.indices(epoch, step)]
        batch = default_collate(samples)
        return tuple(batch) if isinstance(batch, (list, tuple)) else (batch,)


def _passes(loader: torch.utils.data.DataLoader) -> Iterator:
    """A `DataLoader`'s passes one after another: epoch `e` of `len(loader)` steps is pass `e`.

    Ends (so the training loop says the data ran out) after a pass with no batch.
    """
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            return


class SequenceLoader(BatchLoader):
    """A `BatchLoader` that runs a sequence's epoch hooks around each pass.

    `on_epoch_begin` runs before the pass's workers start and `on_epoch_end`
    once the pass is over (all its batches delivered, or the consumer stopped
    early), after its workers are joined, as Keras 2's `OrderedEnqueuer` did.
    """

    def iterate(self, epoch: int, steps: int, start: int = 0) -> Iterator[Batch]:
        self.batches.begin_pass()
        return self._hooked(super().iterate(epoch, steps, start))

    def _hooked(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        try:
            yield from batches
        except GeneratorExit:
            batches.close()
            self.batches.end_pass()
            raise
        batches.close()
        self.batches.end_pass()


def loader_for(batches: Any, *, workers: int, use_multiprocessing: bool,
               max_queue_size: int) -> BatchLoader:
    """The loader of `batches`: a `SequenceLoader` for sequences, else a `BatchLoader`.

    A Keras `PyDataset` carries its own `workers`, `use_multiprocessing` and
    `max_queue_size`; they apply when the call leaves all three at their
    defaults (1, False, 10), as Keras 3 uses only the dataset's.
    """
    if not isinstance(batches, SequenceBatches):
        return BatchLoader(batches, workers=workers, use_multiprocessing=use_multiprocessing,
                           max_queue_size=max_queue_size)
    sequence = batches.sequence
    if (workers, use_multiprocessing, max_queue_size) == (1, False, 10):
        workers = getattr(sequence, "workers", workers)
        use_multiprocessing = getattr(sequence, "use_multiprocessing", use_multiprocessing)
        max_queue_size = getattr(sequence, "max_queue_size", max_queue_size)
    return SequenceLoader(batches, workers=workers, use_multiprocessing=use_multiprocessing,
                          max_queue_size=max_queue_size)


def batch_set(x: Any, y: Any = None, *, sample_weight: Any = None, batch_size: int = 32,
              shuffle: bool = True, seed: int | None = None, steps: int | None = None,
              steps_arg: str = "steps_per_epoch", data_arg: str = "x") -> tuple[Any, int]:
    """Wrap `x` (and `y`) as a batch set (a generator stays one) and work out the steps per pass.

    Args:
        x: arrays, a `BatchSet`, a sequence (see `is_sequence`), or an
            iterator yielding batches.
        y: targets for arrays; must be None otherwise (the batches hold them).
        sample_weight: per-row weights for arrays.
        batch_size: rows per batch, for arrays.
        shuffle: reshuffle arrays, or reorder a sequence's batches, each epoch.
        seed: the shuffle's seed, for arrays and sequences.
        steps: batches per pass; default all of a batch set or of the arrays.
        steps_arg: the argument name that error messages give for `steps`.
        data_arg: the argument name that error messages give for `x`.

    Returns:
        `(batches, steps)`: a `BatchSet` or an iterator, and the step count.

    Raises:
        UserError: no data, a generator function (or class) instead of what it
            makes, a generator without `steps`, or `y` given with a batch set,
            sequence or generator.
        OptionError: steps that are not a positive integer (a whole float
            such as `8.0` counts as one).
    """
    if x is None:
        raise UserError(f"{data_arg} is None; give arrays, a BatchSet or a generator of batches")
    check_data(x, data_arg)
    if steps is not None:
        steps = check_steps(steps_arg, steps)
    if is_arrays(x):
        batches = ArrayBatches(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed,
                               sample_weight=sample_weight)
    else:
        if y is not None or sample_weight is not None:
            raise UserError(
                f"{data_arg} is a {type(x).__name__} but y or sample_weight was given too; "
                "a batch set, sequence or generator yields (x, y) or (x, y, sample_weight) itself")
        batches = x
        if is_sequence(x):
            batches = SequenceBatches(x, shuffle=shuffle, seed=seed, steps=steps)
        elif isinstance(getattr(x, "batch_set", None), BatchSet):
            batches = x.batch_set  # streamfit's TorchBatches: a batch set already
        elif isinstance(x, torch.utils.data.Dataset):
            batches = SampleBatches(x, batch_size=batch_size, shuffle=shuffle, seed=seed)
        elif isinstance(x, torch.utils.data.DataLoader):
            if steps is None and hasattr(x.dataset, "__len__"):
                steps = check_steps(steps_arg, len(x))
            batches = _passes(x)
    if steps is None:
        if not isinstance(batches, BatchSet):
            raise UserError(
                f"{steps_arg} is required with a generator: it cannot tell where an epoch "
                f"ends; pass {steps_arg}=ceil(num_samples / batch_size)")
        steps = len(batches)
    return batches, steps


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
    return batch_set(validation_data, batch_size=batch_size, shuffle=False, steps=steps,
                     steps_arg="validation_steps", data_arg="validation_data")
