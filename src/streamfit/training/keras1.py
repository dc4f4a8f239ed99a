"""Keras 1's argument names, turned into Keras 2's with a warning.

`Model.fit_generator`, `evaluate_generator`, `predict_generator` and `fit`
(`nb_epoch`), and `streamfit.keras.fit_generator`, take them.

Years of tutorials call `fit_generator(gen, samples_per_epoch=2048, nb_epoch=10)`.
Keras 2 renamed the arguments and changed what the first one counts:

| Keras 1 | Keras 2 (and streamfit) | conversion |
| --- | --- | --- |
| `samples_per_epoch` (rows) | `steps_per_epoch` (batches) | `ceil(samples / batch size)` |
| `nb_val_samples` (rows) | `validation_steps` (batches) | `ceil(samples / batch size)` |
| `val_samples` (rows) | `steps` (batches) | the same |
| `nb_epoch` | `epochs` | the same number |
| `max_q_size` | `max_queue_size` | the same number |
| `nb_worker` | `workers` | the same number |
| `pickle_safe` | `use_multiprocessing` | the same flag |

Keras 1 ran an epoch until it had seen `samples_per_epoch` rows, so with
batches of `b` rows an epoch was `ceil(samples_per_epoch / b)` batches; that is
the conversion here. The batch size is the generator's `batch_size` attribute
when it has one (where Keras 2's legacy support read it, then floor-divided;
without one Keras 2 kept the number as steps, training `b` times the data),
else the rows of its first batch, which is then put back in front so that no
batch is lost.

Keras 1 and Keras 2 read `fit_generator(gen, 256, 2)` differently: 256 samples
then, 256 steps now. A call that also uses a Keras 1 keyword is Keras 1 code,
so its positional 256 is `samples_per_epoch`; otherwise it keeps Keras 2's
(the documented) meaning of steps. Either way a `Keras1Warning` shows the
call in Keras 2's spelling; passing `steps_per_epoch=` by keyword says which
is meant and silences it.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from typing import Any

from streamfit.batches.base import BatchSet
from streamfit.errors import UserError
from streamfit.training.data import check_data
from streamfit.training.tensors import inputs_of, num_rows


class Keras1Warning(FutureWarning):
    """A Keras 1 spelling was converted to Keras 2's.

    A `FutureWarning`, shown by default (Python hides `DeprecationWarning`
    outside `__main__`), since the people who must change the call are the
    end users; Keras 2 warned with a plain `UserWarning`. Filter it by this
    class: `warnings.simplefilter("ignore", Keras1Warning)`.
    """


#: Keras 1 name -> Keras 2 name.
RENAMED = {"samples_per_epoch": "steps_per_epoch", "nb_epoch": "epochs",
           "nb_val_samples": "validation_steps", "max_q_size": "max_queue_size",
           "nb_worker": "workers", "pickle_safe": "use_multiprocessing", "val_samples": "steps"}
#: The Keras 1 names of `fit_generator`, and of `evaluate_generator` and `predict_generator`.
FIT_GENERATOR_NAMES = ("samples_per_epoch", "nb_epoch", "nb_val_samples", "max_q_size",
                       "nb_worker", "pickle_safe")
PASS_NAMES = ("val_samples", "max_q_size", "nb_worker", "pickle_safe")
#: The Keras 1 names that count rows.
_SAMPLES = ("samples_per_epoch", "nb_val_samples", "val_samples")
#: Keras 2 positional arguments that Keras 1 read as row counts, at the same positions.
_POSITIONAL_SAMPLES = {"steps_per_epoch": "samples_per_epoch",
                       "validation_steps": "nb_val_samples", "steps": "val_samples"}


def _batch_rows(data: Any, data_arg: str) -> tuple[int, Any]:
    """The rows per batch of `data`, and `data` to use from now on (a peeked generator rebuilt).

    Raises:
        UserError: a generator function instead of a generator, or an empty generator.
    """
    check_data(data, data_arg)
    size = getattr(data, "batch_size", None)
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size, data
    if isinstance(data, BatchSet):
        return num_rows(inputs_of(data.batch(0, 0))), data
    if isinstance(data, Iterator):
        first = next(data, None)
        if first is None:
            raise UserError(f"{data_arg} yielded no batch; it must yield batches forever")
        return num_rows(inputs_of(first)), itertools.chain([first], data)
    return num_rows(inputs_of(data[0])), data


#: Keras 2's order of `fit_generator`'s arguments, in which the warning shows them.
_ORDER = ("steps_per_epoch", "steps", "epochs", "verbose", "callbacks", "validation_data",
          "validation_steps", "class_weight", "max_queue_size", "workers", "use_multiprocessing",
          "shuffle", "initial_epoch")


def _keras2_call(call: str, arguments: dict[str, Any], data_arg: str) -> str:
    """`fit_generator(generator, steps_per_epoch=8, epochs=2, ...)`: values, or `...` for data."""
    names = sorted((name for name in arguments if name not in ("model", data_arg)),
                   key=lambda name: _ORDER.index(name) if name in _ORDER else len(_ORDER))
    shown = [f"{name}={arguments[name]!r}"
             if isinstance(arguments[name], (int, float, str, type(None))) else f"{name}=..."
             for name in names]
    # streamfit.keras.fit_generator takes the Keras model first.
    leading = ["model"] * ("model" in arguments) + [data_arg]
    return f"{call}({', '.join([*leading, *shown])})"


def from_keras1(call: str, arguments: dict[str, Any], keras1: dict[str, Any],
                positional: tuple[str, ...], data_arg: str = "generator",
                stacklevel: int = 3) -> dict[str, Any]:
    """Keras 2's arguments for a call that used Keras 1 names or positions; warns when it did.

    Args:
        call: the function's name, for the warning (`fit_generator`).
        arguments: the call's arguments by Keras 2 name, as given (bound,
            without defaults), the data under `data_arg`.
        keras1: the Keras 1 keywords given, by Keras 1 name.
        positional: the Keras 2 names of the arguments given by position.
        data_arg: the name of the training data's argument (`generator` or `x`).
        stacklevel: the warning's, pointing at the user's call.

    Returns:
        `arguments` with the Keras 1 ones renamed and row counts turned into
        batch counts (the data may be a rebuilt generator).

    Raises:
        TypeError: a Keras 1 name given together with its Keras 2 name.
        UserError: a generator function instead of a generator, or an empty
            generator, where rows must be turned into batches.
    """
    arguments, keras1 = dict(arguments), dict(keras1)
    counted = [name for name in _POSITIONAL_SAMPLES if name in positional]
    if keras1:
        # Keras 1 code: its positional counts are rows, as Keras 1 read them.
        for name in counted:
            old = _POSITIONAL_SAMPLES[name]
            if old in keras1:
                raise TypeError(f"{call}() got {old} by keyword and by position; give it once")
            keras1[old] = arguments.pop(name)
    for old in keras1:
        if RENAMED[old] in arguments:
            raise TypeError(f"{call}() got both the Keras 1 argument {old} and its Keras 2 "
                            f"name {RENAMED[old]}; give only {RENAMED[old]}")
    notes = []
    for old, value in keras1.items():
        new = RENAMED[old]
        source = "validation_data" if old == "nb_val_samples" else data_arg
        if old in _SAMPLES and value is not None:
            data = arguments.get(source)
            if old == "nb_val_samples" and (data is None or isinstance(data, (tuple, list))):
                # Keras 1 validated on all of an (x, y) tuple and ignored nb_val_samples.
                notes.append(f"nb_val_samples={value} is ignored with validation arrays, as "
                             "in Keras 1")
                continue
            rows, arguments[source] = _batch_rows(data, source)
            value = math.ceil(value / rows)
            notes.append(f"{old}={keras1[old]} rows is {new}={value} batches of {rows} rows")
        arguments[new] = value
    if not keras1 and not counted:
        return arguments
    shown = _keras2_call(call, arguments, data_arg)
    if keras1:
        names = "is a Keras 1 name" if len(keras1) == 1 else "are Keras 1 names"
        warnings.warn(
            f"{call}: {', '.join(keras1)} {names}; in Keras 2 (and streamfit) the call is "
            f"{shown}" + "".join(f"; {note}" for note in notes), Keras1Warning,
            stacklevel=stacklevel)
    else:
        counts = " and ".join(f"{arguments[name]!r} as {name}" for name in counted)
        rows = " and ".join(_POSITIONAL_SAMPLES[name] for name in counted)
        where = "that position" if len(counted) == 1 else "those positions"
        warnings.warn(
            f"{call} reads the positional {counts} (batches), as Keras 2; Keras 1 read {where} "
            f"as {rows} (rows). Pass it by keyword to say which: {shown} for batches, or "
            f"{_POSITIONAL_SAMPLES[counted[0]]}= for rows",
            Keras1Warning, stacklevel=stacklevel)
    return arguments
