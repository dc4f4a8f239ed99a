"""Errors that reach users.

A `UserError` is a mistake the user can fix (a missing file, an unknown
column, a bad option). Its message is one line that names the file, line,
column or argument and says what to do; the command-line tool prints it
without a traceback and exits with status 2.

This module imports nothing heavy: the command line catches these before
torch is loaded.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A mistake in the user's input or options, with a one-line fix."""


class DataError(UserError):
    """A bad row in the data (raised under `--strict`), naming file and line."""


class TrainingInterrupted(UserError):
    """Ctrl-C stopped `fit`; a checkpoint holds the position to resume from.

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
