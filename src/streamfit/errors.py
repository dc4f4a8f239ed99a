"""Errors by kind, and the one validator of option values.

| error | raised for | the command line |
| --- | --- | --- |
| `UserError` (a `ValueError`) | a mistake the user can fix: a missing file, a bad option | one line, exit 2 |
| `OptionError` (a `UserError`) | a bad value of one named argument | the same line naming the flag, exit 2 |
| `DataError` (a `UserError`) | a bad row under `strict`, naming file and line | one line, exit 2 |
| `TrainingInterrupted` | Ctrl-C stopped `fit` after saving a checkpoint | one line, exit 130 |
| anything else | a bug in streamfit | a traceback, exit 70 |

Library messages name the Python argument (`batch_size=0 must be at least
1`); the command line shows the same error with its flag (`--batch-size 0
must be at least 1`), from `OptionError.option` and `OptionError.value`.

This module imports nothing heavy: the command line catches these before
torch is loaded.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any


class UserError(ValueError):
    """A mistake in the user's input or options, with a one-line fix."""


class OptionError(UserError):
    """A bad value of the argument `option`; the message reads `option=value problem`.

    Args:
        python_note: said after `problem` to Python callers only (`or None`).

    Attributes:
        option: the Python argument's name (`batch_size`).
        value: the value given.
        problem: what is wrong and the fix (`must be at least 1`).
    """

    def __init__(self, option: str, value: Any, problem: str, *, python_note: str = ""):
        super().__init__(f"{option}={value!r} {problem}{python_note}")
        self.option, self.value, self.problem = option, value, problem

    def with_flag(self, flag: str) -> str:
        """The message as the command line says it: `--batch-size 0 must be at least 1`.

        Leaves out `python_note`, which speaks of Python values (`or None`).
        """
        value = "" if self.value is None or self.value is True else f" {self.value}"
        return f"{flag}{value} {self.problem}"


class DataError(UserError):
    """A bad row in the data (raised under `strict`), naming file and line."""


class TrainingInterrupted(Exception):  # noqa: N818 (Keras' word, like KeyboardInterrupt)
    """Ctrl-C stopped `fit`; a checkpoint holds the position to resume from.

    Not a `UserError`: nothing is wrong, and `except ValueError` must not swallow it.

    Attributes:
        checkpoint: the checkpoint's `.json` to resume from (None when none
            was written yet).
        epoch: the 0-based epoch that was running.
        step: the steps of that epoch done.
    """

    def __init__(self, message: str, checkpoint: Path | None, epoch: int, step: int):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.step = step


class RankZeroFailed(UserError):
    """Rank 0 failed at a step the other ranks waited for; rank 0 reports why."""


def check_number(option: str, value: Any, *, minimum: float | None = None,
                 above: float | None = None, below: float | None = None, integer: bool = True,
                 optional: bool = False) -> Any:
    """`value` when it is a number in range, else an `OptionError` naming `option`.

    Args:
        option: the argument's name, for the message.
        value: the value to check (numpy integers count as integers; bools never do).
        minimum: the least value allowed (inclusive).
        above: the bound the value must exceed (exclusive).
        below: the bound the value must stay under (exclusive).
        integer: whether it must be an integer.
        optional: whether None is allowed (and returned as is).

    Raises:
        OptionError: e.g. `batch_size=0 must be an integer >= 1`.

    Example:
        >>> check_number("dropout", 0.2, minimum=0, below=1, integer=False)
        0.2
    """
    if value is None and optional:
        return None
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and not integer:
        ok = value == value  # NaN is no number here
    if ok and ((minimum is not None and value < minimum) or (above is not None and value <= above)
               or (below is not None and value >= below)):
        ok = False
    if not ok:
        low = f"{minimum}" if minimum is not None else None
        if above is not None:
            low = f"> {above}"
        if low is not None and below is not None:
            where = f" in [{minimum}, {below})" if minimum is not None else f" {low} and < {below}"
        elif low is not None:
            where = f" >= {minimum}" if minimum is not None else f" {low}"
        elif below is not None:
            where = f" < {below}"
        else:
            where = ""
        raise OptionError(option, value, f"must be {'an integer' if integer else 'a number'}{where}",
                          python_note=" or None" if optional else "")
    return value
