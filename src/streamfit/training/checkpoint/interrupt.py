"""Ctrl-C during `fit`: stop after a whole step, and say how to resume.

The first Ctrl-C only asks the loop to stop (`InterruptFlag`); the loop then
saves a checkpoint after the step it is in and raises `TrainingInterrupted`
(`interruption`), which names the checkpoint. A second Ctrl-C, or one that
reaches a `fit` without the flag (another thread, someone else's handler),
raises `KeyboardInterrupt` at once: the loop saves the position only when it
is whole (`LoopState.may_save`), else names the latest checkpoint.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from streamfit.errors import TrainingInterrupted
from streamfit.training.checkpoint.file import describe


class InterruptFlag:
    """Turns the first Ctrl-C into a request, so that the loop stops after a whole step.

    Installed only in the main thread and only over Python's default handler
    (someone else's handler is left alone). A second Ctrl-C raises
    `KeyboardInterrupt` at once, for a step that hangs. `announce` says so on
    stderr (rank 0 only, in data-parallel training).

    Attributes:
        requested: whether Ctrl-C (or another rank's) asked to stop.
    """

    def __init__(self, announce: bool = True) -> None:
        self.requested = False
        self.announce = announce
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            # os.write: print() from a signal handler can hit a half-written stream.
            os.write(2, b"\nstreamfit: stopping after this step to save a checkpoint "
                        b"(Ctrl-C again to stop at once)\n")

    def __enter__(self) -> InterruptFlag:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def interruption(epoch: int, step: int, saved: Path | None, latest: Path | None,
                 directory: Path) -> TrainingInterrupted:
    """The error that ends an interrupted `fit`, for the Python API and the command line.

    Args:
        epoch, step: where the loop was.
        saved: the checkpoint just saved there, or None when none could be.
        latest: the run's newest checkpoint otherwise (None: none yet).
        directory: the checkpoint directory, to resume from.
    """
    where = describe(epoch, step)
    resume = f"resume with --resume or fit(..., resume_from={str(directory)!r})"
    if saved is not None:
        return TrainingInterrupted(
            f"training interrupted at {where}; checkpoint saved to {saved}; {resume}",
            saved, epoch, step)
    if latest is None:
        return TrainingInterrupted(
            f"training interrupted inside {where}, before any checkpoint was written; "
            "train again from the start", None, epoch, step)
    return TrainingInterrupted(
        f"training interrupted inside {where}, where no consistent checkpoint can be taken; "
        f"the latest checkpoint is {latest}; {resume}", latest, epoch, step)
