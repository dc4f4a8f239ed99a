"""Keras 3 bridge: a batch set as a `keras.utils.PyDataset`, and Keras 2's `fit_generator`.

Keras 3 removed `Model.fit_generator`, the call that ends the "Batch training"
appendix of Google's text classification guide. `fit_generator` runs that
call on a Keras 3 model, keyword for keyword; `as_pydataset` hands any
streamfit `BatchSet` to `keras_model.fit`:

    keras_model.fit(as_pydataset(train), validation_data=as_pydataset(val), epochs=10)

What each kind of data becomes in `fit_generator`, and where `workers`,
`use_multiprocessing` and `max_queue_size` apply:

| data | reaches Keras as | workers, processes, queue |
| --- | --- | --- |
| `BatchSet` | `KerasBatches`: each pass serves the batches of one epoch | a streamfit `BatchLoader` |
| `keras.utils.PyDataset` | itself | its own constructor's, used by Keras |
| training generator | a generator, each batch converted | ignored (as Keras 3): pulled in the training thread |
| validation generator | `PulledBatches`: the next `validation_steps` batches per pass | ignored |
| `(x, y)` or `(x, y, sample_weight)` arrays | `ArrayBatches` of 32 rows, in order | a streamfit `BatchLoader` |

Batches are converted one at a time on their way to Keras, so memory stays
O(batch): a scipy sparse matrix becomes a dense float32 array (Keras' torch
backend cannot take scipy sparse inputs; a TF-IDF batch of 128 x 20,000 is
10 MB), an `np.matrix` a plain array, a dict value by value, and a batch
whose `y` is None becomes `(x,)`.

Importing this module imports Keras. When Keras is not imported yet and
`KERAS_BACKEND` is unset, it selects the torch backend (streamfit's own
dependency) instead of Keras' default, TensorFlow; set `KERAS_BACKEND`, or
import keras first, to use another backend.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse

from streamfit.batches.arrays import ArrayBatches
from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import OptionError, UserError, check_number
from streamfit.loader import BatchLoader
from streamfit.prefetch import END
from streamfit.training.data import check_data, check_steps
from streamfit.training.keras1 import FIT_GENERATOR_NAMES, from_keras1

# `PyDataset.on_epoch_begin`, which `KerasBatches` needs to tell a finished
# pass from Keras' set-up calls, first shipped in Keras 3.5.
_MIN_KERAS = (3, 5)


def _import_keras():
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ModuleNotFoundError as error:
        if error.name == "keras":
            raise UserError("streamfit.keras needs Keras 3, which is not installed; "
                            "run `pip install keras`") from None
        raise UserError(
            f"keras could not be imported ({error}); install the backend that "
            f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')} names, or set "
            "KERAS_BACKEND=torch before importing keras") from error
    version = tuple(int(part) for part in keras.__version__.split(".")[:2])
    if version < _MIN_KERAS:
        raise UserError(f"streamfit.keras needs Keras >= 3.5 but found {keras.__version__}; "
                        "run `pip install -U keras`")
    return keras


keras = _import_keras()


def _to_keras_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_keras_value(item) for key, item in value.items()}
    if scipy.sparse.issparse(value):
        return value.astype(np.float32, copy=False).toarray()
    if isinstance(value, np.matrix):
        return np.asarray(value)
    return value


def to_keras_batch(batch: Any) -> Any:
    """Convert one batch to what every Keras backend accepts.

    Args:
        batch: `(x, y)` or `(x, y, sample_weight)` (a list is read as a
            tuple), each a numpy array, `np.matrix`, scipy sparse matrix, or a
            dict of them; anything else is returned unchanged for Keras to judge.

    Returns:
        The same tuple with scipy sparse matrices as dense float32 arrays and
        `np.matrix` as plain arrays (inside dicts too); `(x,)` when `y` is None.
    """
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch
    if len(batch) == 2 and batch[1] is None:
        batch = batch[:1]
    return tuple(_to_keras_value(value) for value in batch)


class KerasBatches(keras.utils.PyDataset):
    """A batch set as a Keras `PyDataset`: each pass serves the batches of one epoch.

    Between Keras' `on_epoch_begin` and `on_epoch_end` (a pass), the n-th
    batch Keras asks for is batch n of the current epoch, whatever index it
    passes: Keras' `fit(shuffle=True)` only reorders whole batches with
    Python's `random`, while the batch set already reshuffles rows every epoch
    with its own seed, so a run is deterministic and the same for any
    `workers`. Outside a pass, item `i` is batch `i` of the current epoch.

    The epoch starts at `epochs_seen` and moves on once a pass has served all
    its batches. Keras also begins passes that it leaves early (it reads one
    batch to build the model, and `fit` and `evaluate` end a pass when they
    set up); the next pass serves the same epoch again from its first batch.
    So the first epoch that `fit` trains is the batch set's epoch
    `epochs_seen`, the next `epochs_seen + 1`, and so on, over `fit` calls too.

    `workers`, `use_multiprocessing` and `max_queue_size` drive a streamfit
    `BatchLoader` that computes the batches of a pass ahead, in order; Keras
    itself is told to use one worker, because its own enqueuer keeps the
    batches it fetched ahead for a pass it left early and serves them at the
    start of the next pass, so that with `workers > 1` every epoch would mix
    batches of two epochs.

    Args:
        batch_set: the batches.
        epochs_seen: epochs already trained (when resuming): the first pass
            serves that epoch's batches.
        steps: serve only the first `steps` batches of each epoch (default all).
        reshuffle: False serves epoch `epochs_seen` in every pass, so every
            validation pass sees the same batches.
        workers: threads (or processes) computing batches ahead; 0 or 1
            computes each batch when Keras asks for it.
        use_multiprocessing: processes instead of threads (forked on Linux,
            sharing the batch set copy-on-write).
        max_queue_size: batches computed ahead.

    Raises:
        UserError: `batch_set` is not a `BatchSet`, or a bad count.
    """

    def __init__(self, batch_set: BatchSet, *, epochs_seen: int = 0, steps: int | None = None,
                 reshuffle: bool = True, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        if not isinstance(batch_set, BatchSet):
            raise UserError(
                f"as_pydataset needs a streamfit BatchSet but got a {type(batch_set).__name__}; "
                "wrap arrays as ArrayBatches(x, y, batch_size=...)")
        super().__init__(workers=1, use_multiprocessing=False)
        self.batch_set = batch_set
        self.loader = BatchLoader(batch_set, workers=workers,
                                  use_multiprocessing=use_multiprocessing,
                                  max_queue_size=max_queue_size)
        self.steps = len(batch_set) if steps is None else int(check_number("steps", steps, minimum=1))
        if self.steps > len(batch_set):
            raise OptionError("steps", steps, f"is more than the {len(batch_set)} batches per "
                              "epoch of the batch set; leave steps unset to use them all")
        self.epoch = int(check_number("epochs_seen", epochs_seen, minimum=0))
        self.reshuffle = reshuffle
        self._pass: Iterator[Batch] | None = None
        self._served = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> Batch:
        """The next batch of the pass (batch `index` outside one), converted by `to_keras_batch`.

        Raises:
            IndexError: `index` is outside `[0, len(self))`.
            UserError: Keras asked for more than `len(self)` batches in one pass.
        """
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} is outside [0, {self.steps})")
        if self._pass is None:
            return to_keras_batch(self.batch_set.batch(self.epoch, index))
        if self._served == self.steps:
            raise UserError(
                f"Keras asked for more than the {self.steps} batches of an epoch; do not pass "
                "steps_per_epoch to fit with as_pydataset (give as_pydataset steps= instead)")
        self._served += 1
        return to_keras_batch(next(self._pass))

    def set_epoch(self, epoch: int) -> None:
        """Serve the batches of `epoch` from the next pass on."""
        self.epoch = int(check_number("epoch", epoch, minimum=0))

    def on_epoch_begin(self) -> None:
        self._end_pass()
        self._pass = self.loader.iterate(self.epoch, self.steps)

    def on_epoch_end(self) -> None:
        complete = self._served == self.steps
        self._end_pass()
        if complete and self.reshuffle:
            self.epoch += 1

    def _end_pass(self) -> None:
        # Closing the loader's iterator cancels the batches computed ahead and
        # joins its threads or processes.
        if self._pass is not None:
            self._pass.close()
        self._pass = None
        self._served = 0


def as_pydataset(batch_set: BatchSet, *, epochs_seen: int = 0, steps: int | None = None,
                 reshuffle: bool = True, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> KerasBatches:
    """Wrap a batch set for `keras_model.fit`, `evaluate` and `predict`, on any backend.

    Example:
        >>> train = ArrayBatches(x_train, y_train, batch_size=128, seed=0)
        >>> val = ArrayBatches(x_val, y_val, batch_size=512, shuffle=False)
        >>> history = keras_model.fit(as_pydataset(train, workers=2),
        ...                           validation_data=as_pydataset(val), epochs=10)

    Do not pass `batch_size` or `steps_per_epoch` to `fit` along with it: the
    batch set owns the batch size, and `steps` limits the batches per epoch.
    Keras' `shuffle` has no effect (the batch set owns the order of rows).
    Arguments are those of `KerasBatches`.

    Returns:
        A `KerasBatches` (a `keras.utils.PyDataset`).
    """
    return KerasBatches(batch_set, epochs_seen=epochs_seen, steps=steps, reshuffle=reshuffle,
                        workers=workers, use_multiprocessing=use_multiprocessing,
                        max_queue_size=max_queue_size)


class PulledBatches(keras.utils.PyDataset):
    """`steps` batches per pass pulled in order from an endless generator.

    Keras 3 re-reads the first two batches that it peeked from a validation
    generator at the start of every validation pass, so from the second pass
    on it sees those twice and never the last two; pulling through a
    `PyDataset` makes each pass read the next `steps` batches exactly once.
    Keras fetches them in order in its own thread (one worker).

    Args:
        generator: an iterator of batches, looping forever.
        steps: batches per pass.
        steps_arg: the argument name that error messages give for `steps`.

    Raises:
        UserError: `steps` is not a positive integer.
    """

    def __init__(self, generator: Iterator, steps: int, steps_arg: str = "steps"):
        super().__init__()
        self.iterator = generator
        self.steps = int(check_number(steps_arg, steps, minimum=1))
        self.steps_arg = steps_arg
        self._pulled = 0

    def __len__(self) -> int:
        return self.steps

    def on_epoch_begin(self) -> None:
        self._pulled = 0

    def __getitem__(self, index: int) -> Batch:
        """The next batch of the generator (whatever `index`), converted.

        Raises:
            UserError: the generator ran dry before `steps` batches.
        """
        batch = next(self.iterator, END)
        if batch is END:
            raise UserError(
                f"the generator ran out of data after {self._pulled} of {self.steps_arg}="
                f"{self.steps} batches; make it loop forever (`while True:`) or lower "
                f"{self.steps_arg}")
        self._pulled += 1
        return to_keras_batch(batch)


def _class_ids(y: Any) -> np.ndarray:
    # Keras' reading of targets: integer ids, one (n, 1) column, or one-hot rows.
    y = np.asarray(_to_keras_value(y))
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[..., 0]
    return np.round(y).astype(np.int64)


def _weighted_by_class(batches: Iterator, class_weight: dict) -> Iterator:
    """Add `sample_weight = class_weight[class of y]` (1 for unlisted classes) to each batch."""
    ids = np.array(list(class_weight), dtype=np.int64)
    weights = np.array(list(class_weight.values()), dtype=np.float32)
    order = np.argsort(ids)
    ids, weights = ids[order], weights[order]
    for batch in batches:
        if not isinstance(batch, tuple) or len(batch) != 2 or isinstance(batch[1], dict):
            raise UserError(
                "class_weight needs a generator of (x, y) batches with one target array; "
                "drop class_weight or the sample weights (and dicts of targets) it yields")
        classes = _class_ids(batch[1])
        at = np.minimum(np.searchsorted(ids, classes), len(ids) - 1)
        yield (*batch, np.where(ids[at] == classes, weights[at], np.float32(1.0)))


def _converted(generator: Iterator, class_weight: dict | None) -> Iterator:
    batches = (to_keras_batch(batch) for batch in generator)
    return batches if not class_weight else _weighted_by_class(batches, class_weight)


def _require_steps(steps: int | None, steps_arg: str) -> int:
    if steps is None:
        raise UserError(
            f"{steps_arg} is required with a generator: it cannot tell where an epoch "
            f"ends; pass {steps_arg}=ceil(num_samples / batch_size)")
    return check_steps(steps_arg, steps)


def _validation(validation_data: Any, validation_steps: int | None, loader: dict) -> Any:
    if isinstance(validation_data, BatchSet):
        return KerasBatches(validation_data, steps=validation_steps, reshuffle=False, **loader)
    if isinstance(validation_data, Iterator):
        return PulledBatches(validation_data, _require_steps(validation_steps, "validation_steps"),
                             "validation_steps")
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        x, y, *weights = validation_data
        batches = ArrayBatches(x, y, batch_size=32, shuffle=False,
                               sample_weight=weights[0] if weights else None)
        return KerasBatches(batches, steps=validation_steps, reshuffle=False, **loader)
    raise UserError(
        f"validation_data is a {type(validation_data).__name__}; give a generator, a "
        "BatchSet, a keras PyDataset, or an (x, y) / (x, y, sample_weight) tuple")


def fit_generator(model, *args: Any, **kwargs: Any):
    """Keras 2's `Model.fit_generator`, on a Keras 3 model.

    The guide's call runs with the model passed first::

        history = streamfit.keras.fit_generator(
            model, generator=training_generator, steps_per_epoch=steps_per_epoch,
            validation_data=validation_generator, validation_steps=validation_steps,
            callbacks=callbacks, epochs=epochs, verbose=2)

    The arguments are Keras 2's, in its order (see `help()` for the full
    list). Keras 1's names (`samples_per_epoch`, `nb_epoch`,
    `nb_val_samples`, `max_q_size`, `nb_worker`, `pickle_safe`) are
    converted with a `Keras1Warning`, and positional counts are read as in
    `streamfit.Model.fit_generator` (see `streamfit.training.keras1`).

    Raises:
        TypeError: an argument it does not take, or one given twice (also as
            its Keras 1 name).
    """
    keras1 = {name: kwargs.pop(name) for name in list(kwargs) if name in FIT_GENERATOR_NAMES}
    arguments = _FIT_GENERATOR.bind(model, *args, **kwargs).arguments
    positional = tuple(_FIT_GENERATOR.parameters)[2:max(2, len(args) + 1)]
    arguments = from_keras1("fit_generator", arguments, keras1, positional)
    return _fit_generator(**arguments)


def _fit_generator(model, generator: Any, steps_per_epoch: int | None = None, epochs: int = 1,
                  verbose: int | str = 1, callbacks: list | None = None,
                  validation_data: Any = None, validation_steps: int | None = None,
                  validation_freq: int = 1, class_weight: dict | None = None,
                  max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False,
                  shuffle: bool = True, initial_epoch: int = 0):
    """`fit_generator` once Keras 1's names are converted.

    Args:
        model: a compiled Keras 3 model.
        generator: a generator (any iterator) of `(x, y)` or
            `(x, y, sample_weight)` batches, looping forever and consumed as one
            stream across epochs (epoch 2 continues where epoch 1 stopped); a
            streamfit `BatchSet`, whose epoch `e` trains Keras' epoch `e`; or a
            `keras.utils.PyDataset` (Keras 2's `Sequence`).
        steps_per_epoch: batches per epoch; required with a generator. With a
            `BatchSet`, the first `steps_per_epoch` batches of each epoch
            (default all).
        epochs: the index of the last epoch + 1, as in Keras.
        verbose: 0 silent, 1 a progress bar, 2 one line per epoch.
        callbacks: Keras callbacks.
        validation_data: a generator (needs `validation_steps`; each pass reads
            its next `validation_steps` batches), a `BatchSet` (read as its
            epoch 0 every pass), a `PyDataset`, or an `(x, y)` /
            `(x, y, sample_weight)` tuple of arrays (read in batches of 32).
        validation_steps: batches per validation pass; required with a
            generator, the first ones of a `BatchSet` or tuple (default all).
        validation_freq: validate every this many epochs.
        class_weight: `{class id: weight}` multiplying each sample's loss;
            applied here to a generator's batches (Keras 3 refuses it for
            generators), by Keras otherwise.
        max_queue_size, workers, use_multiprocessing: how Keras fetches the
            batches of a `BatchSet` (training, validation and tuples) ahead;
            Keras 3 ignores them for generators, which it pulls in the
            training thread, and a `PyDataset` carries its own.
        shuffle: for a `PyDataset`, reorder its batches each epoch; a
            `BatchSet` owns its order (its `shuffle` and seed) and generators
            yield theirs, so it is ignored for both.
        initial_epoch: the first epoch's index (resuming).

    Returns:
        Keras' `History`.

    Raises:
        UserError: a generator without `steps_per_epoch`, a validation
            generator without `validation_steps` or running dry, data of an
            unknown kind, or bad counts.
    """
    loader = {"workers": workers, "use_multiprocessing": use_multiprocessing,
              "max_queue_size": max_queue_size}
    if isinstance(generator, keras.utils.PyDataset):
        x = generator
    elif isinstance(generator, BatchSet):
        x = KerasBatches(generator, epochs_seen=initial_epoch, steps=steps_per_epoch, **loader)
        steps_per_epoch, shuffle = None, False
    elif isinstance(generator, Iterator):
        steps_per_epoch = _require_steps(steps_per_epoch, "steps_per_epoch")
        x = _converted(generator, class_weight)
        class_weight, shuffle = None, False
    else:
        check_data(generator, "generator")
        raise UserError(
            f"generator is a {type(generator).__name__}; give a generator of (x, y) batches, "
            "a streamfit BatchSet or a keras PyDataset (for arrays call model.fit(x, y))")
    if validation_data is not None and not isinstance(validation_data, keras.utils.PyDataset):
        # The wrapper holds `validation_steps` batches per pass.
        validation_data = _validation(validation_data, validation_steps, loader)
        validation_steps = None
    return model.fit(x, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                     callbacks=callbacks, validation_data=validation_data,
                     validation_steps=validation_steps, validation_freq=validation_freq,
                     class_weight=class_weight, shuffle=shuffle, initial_epoch=initial_epoch)


_FIT_GENERATOR = inspect.signature(_fit_generator)
# What help() and inspect show: the arguments it takes, not (*args, **kwargs).
fit_generator.__signature__ = _FIT_GENERATOR
