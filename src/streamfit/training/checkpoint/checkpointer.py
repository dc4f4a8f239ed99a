"""`Checkpointer`: when a running `fit` writes checkpoints, and which it keeps.

At each epoch end, every `every_steps` steps, every `every_minutes`, and on
Ctrl-C; after each write only the newest `keep` checkpoints remain. In
data-parallel training (`Replicas`) every rank calls `save` at the same
points, the running sums are added up over ranks there, and rank 0 alone
writes: the module's own weights, loadable by a single process.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamfit.errors import OptionError, TrainingInterrupted, check_number
from streamfit.training.checkpoint.file import (
    Checkpoint,
    checkpoint_serials,
    read_checkpoint,
    write_checkpoint,
)
from streamfit.training.checkpoint.interrupt import InterruptFlag, interruption

if TYPE_CHECKING:
    from streamfit.training.replicas import Replicas
    from streamfit.training.state import LoopState


def _prepare_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise OptionError("checkpoint_dir", str(directory), "is a file; give a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OptionError("checkpoint_dir", str(directory),
                          f"cannot be written ({error.strerror or error}); give a directory you "
                          "can write to") from None


class Checkpointer:
    """Writes checkpoints of one `fit` into a directory, when due and on Ctrl-C.

    Args:
        directory: created if missing; must be writable.
        every_steps: also write every this many training steps (counted over
            the whole run, so positions do not depend on where a run resumed).
        every_minutes: also write when this long has passed since the last write.
        keep: how many checkpoints to keep (the newest).
        replicas: in data-parallel training, this rank's part: every rank
            calls `save` at the same points (the running sums are added up
            over ranks there) and only rank 0 touches the directory.

    Raises:
        OptionError: an option out of range, or a directory that is a file or
            cannot be written.
    """

    def __init__(self, directory: str | os.PathLike, *, every_steps: int | None = None,
                 every_minutes: float | None = None, keep: int = 3,
                 replicas: Replicas | None = None):
        self.directory = Path(directory)
        self.every_steps = check_number("checkpoint_every_steps", every_steps, minimum=1,
                                        optional=True)
        minutes = check_number("checkpoint_every_minutes", every_minutes, above=0,
                               integer=False, optional=True)
        self.every_seconds = None if minutes is None else minutes * 60.0
        self.keep = check_number("keep_checkpoints", keep, minimum=1)
        self.replicas = replicas
        self.writes = replicas is None or replicas.is_main
        serials: dict[int, str] = {}
        if self.writes:
            _prepare_directory(self.directory)
            serials = checkpoint_serials(self.directory)
        self.serial = max(serials, default=0)
        self.latest: Path | None = None
        self.steps = 0
        self.fingerprint: dict[str, Any] = {}
        self._position: tuple[int, int, bool] | None = None
        self._verified = False
        self._last_write = time.monotonic()
        self._interrupts = InterruptFlag(announce=self.writes)

    def start(self, steps: int, fingerprint: dict[str, Any], resumed: Checkpoint | None) -> None:
        """Begin a run of `steps` per epoch; a resumed run's position is not written again."""
        self.steps = steps
        self.fingerprint = fingerprint
        if resumed is not None:
            self.latest = resumed.path
            self._position = resumed.position
        self._last_write = time.monotonic()

    def catching_interrupts(self) -> contextlib.AbstractContextManager:
        """While inside, the first Ctrl-C only asks the loop to stop after a whole step."""
        return self._interrupts

    @property
    def interrupt_requested(self) -> bool:
        return self._interrupts.requested

    def request_interrupt(self) -> None:
        """Stop after this step as Ctrl-C does (another rank got the Ctrl-C)."""
        self._interrupts.requested = True

    def due(self, state: LoopState) -> bool:
        """Whether to write after the step just done (or Ctrl-C asks to stop)."""
        if self._interrupts.requested:
            return True
        if state.step >= self.steps:
            return False  # the epoch-end checkpoint follows at once
        if self.every_steps is not None and (state.epoch * self.steps + state.step) % self.every_steps == 0:
            return True
        return self.every_seconds is not None and time.monotonic() - self._last_write >= self.every_seconds

    def save(self, state: LoopState) -> Path | None:
        """Write a checkpoint of the current position (once per position) and prune old ones.

        Returns:
            The checkpoint's `.json` (None on ranks other than 0, which write nothing).

        Raises:
            UserError: a callback state JSON cannot hold, a disk error, or (at
                the first write of a run) a checkpoint that cannot be read back
                without pickle.
        """
        running = self.replicas.total(state.running) if self.replicas is not None else state.running
        if not self.writes:
            # Ranks that write nothing still restart the clock, or their `due` would
            # stay true and make rank 0 write after every step.
            self._last_write = time.monotonic()
            return self.latest
        if state.position == self._position and self.latest is not None:
            return self.latest
        if running is not state.running:
            state = replace(state, running=running)  # the sums over all ranks
        self.serial += 1
        path = write_checkpoint(self.directory, self.serial, state.epoch, state.step,
                                state.state_dict(),
                                {**state.model.tensor_state_dict(), **state.tensor_state_dict()},
                                self.fingerprint)
        if not self._verified:
            # Catch state that only pickle could read back now, not at resume time.
            read_checkpoint(path)
            self._verified = True
        self.latest = path
        self._position = state.position
        self._last_write = time.monotonic()
        self._prune()
        return path

    def _prune(self) -> None:
        serials = checkpoint_serials(self.directory)
        kept = {serials[serial] for serial in sorted(serials)[-self.keep:]}
        # JSON first: a checkpoint whose .json is gone is no longer a candidate.
        for name in sorted(os.listdir(self.directory), key=lambda name: not name.endswith(".json")):
            stem, _, suffix = name.rpartition(".")
            stale = ((name.startswith("ckpt-") and suffix in ("json", "pt") and stem not in kept)
                     or (name.startswith(".ckpt-") and suffix == "tmp"))
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()

    def interrupted(self, state: LoopState, save: bool = True) -> TrainingInterrupted:
        """Save the position (when `save` and the state is whole) and say how to resume."""
        saved = self.save(state) if save and state.may_save else None
        return interruption(state.epoch, state.step, saved, self.latest, self.directory)
