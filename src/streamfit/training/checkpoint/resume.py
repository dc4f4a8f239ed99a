"""Finding and choosing the checkpoint a run resumes from, also with another world size.

Resuming is exact: batches are addressed by (epoch, step) and dropout is
seeded from (seed, epoch, step), so with the restored weights, optimizer
state, running sums and callback state the resumed run computes the same
values as the run that was interrupted, bit for bit, on the same device and
torch version with the same number of threads.

In data-parallel training rank 0 picks the checkpoint and every rank reads
it (`find_shared_resume_point`). A run with the number of processes that
wrote it resumes exactly; one with another number restarts at the beginning
of the checkpoint's epoch (`for_world_size`), with a warning.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from streamfit import distributed
from streamfit.errors import OptionError, UserError
from streamfit.training.checkpoint.file import (
    Checkpoint,
    checkpoint_serials,
    describe,
    read_checkpoint,
)
from streamfit.training.state import LoopState


def latest_checkpoint(directory: str | os.PathLike) -> Checkpoint | None:
    """The newest checkpoint in `directory` that reads back intact.

    A damaged newer one is reported with a warning and skipped.

    Returns:
        The checkpoint, or None when the directory holds none (or does not exist).

    Raises:
        UserError: the directory holds checkpoints but none is intact.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    serials = checkpoint_serials(directory)
    candidates = [directory / f"{serials[serial]}.json" for serial in sorted(serials, reverse=True)]
    problems = []
    for path in candidates:
        try:
            checkpoint = read_checkpoint(path)
        except UserError as error:
            problems.append(str(error))
            continue
        for problem in problems:
            warnings.warn(f"{problem}; resuming from {path.name} instead", UserWarning, stacklevel=2)
        return checkpoint
    if candidates:
        raise UserError(
            f"no intact checkpoint in {directory} ({problems[0]}); delete the directory to "
            "train from the start")
    return None


def find_resume_point(resume_from: str | os.PathLike,
                      checkpoint_dir: str | os.PathLike | None) -> Checkpoint | None:
    """The checkpoint `resume_from` names: a file, or the newest in a directory.

    Returns:
        The checkpoint, or None for a directory with no checkpoint yet (and for
        a missing directory that is the run's own `checkpoint_dir`): the run
        starts from the beginning.

    Raises:
        UserError: a missing path (other than `checkpoint_dir`), or a
            checkpoint that cannot be read (see `read_checkpoint`).
    """
    path = Path(resume_from)
    if path.is_dir():
        return latest_checkpoint(path)
    if path.exists():
        return read_checkpoint(path)
    if checkpoint_dir is not None and path.resolve() == Path(checkpoint_dir).resolve():
        return None
    raise OptionError("resume_from", str(path), "does not exist; give a checkpoint's .json or "
                      "the checkpoint directory")


def find_shared_resume_point(resume_from: str | os.PathLike,
                             checkpoint_dir: str | os.PathLike | None) -> Checkpoint | None:
    """`find_resume_point` for all ranks: rank 0 picks the checkpoint, every rank reads it.

    Raises:
        UserError: as `find_resume_point` on rank 0 (`RankZeroFailed` on the
            others), or a rank that cannot read rank 0's checkpoint.
    """
    # Rank 0 gets its checkpoint, the others its path (None: start from the beginning).
    chosen = distributed.on_main_rank(lambda: find_resume_point(resume_from, checkpoint_dir),
                                      share=lambda found: None if found is None else str(found.path))
    if distributed.is_main() or chosen is None:
        return chosen
    try:
        return read_checkpoint(chosen)
    except UserError as error:
        raise UserError(
            f"rank {distributed.rank()} cannot read {chosen}, the checkpoint rank 0 resumes from "
            f"({error}); put the checkpoint directory on a filesystem every machine shares") from None


def for_world_size(checkpoint: Checkpoint, world_size: int, announce: bool = True) -> Checkpoint:
    """The checkpoint as a run of `world_size` processes resumes from it.

    With the world size that wrote it: itself, resumed exactly. With another:
    the beginning of its epoch (step 0), with its weights, optimizer state,
    History and callbacks, because the position within an epoch and the
    epoch's running sums belong to the old split of rows between ranks; the
    steps of that epoch done before the checkpoint are trained again.

    Args:
        checkpoint: a checkpoint read back.
        world_size: the processes of this run.
        announce: warn (one line) when the world size differs.
    """
    saved = checkpoint.meta["fingerprint"].get("world_size", 1)
    if saved == world_size:
        return checkpoint
    if announce:
        redo = f"; its {checkpoint.step} steps done in that epoch are trained again" if checkpoint.step else ""
        warnings.warn(f"{checkpoint.path.name} was written by {saved} processes and this run has "
                      f"{world_size}: resuming at the start of epoch {checkpoint.epoch + 1}{redo}",
                      UserWarning, stacklevel=3)
    return Checkpoint(checkpoint.path, *LoopState.at_epoch_start(checkpoint.meta, checkpoint.tensors))


def check_epochs(checkpoint: Checkpoint, epochs: int) -> None:
    """Refuse a checkpoint past the end of a run of `epochs`.

    Raises:
        OptionError: `epochs=2 ends before epoch 3 step 5, where the checkpoint
            ckpt/... resumes; give 3 or more`.
    """
    epoch, step, begun = checkpoint.position
    if epoch > epochs or (epoch == epochs and begun):
        raise OptionError("epochs", epochs, f"ends before {describe(epoch, step)}, where the "
                          f"checkpoint {checkpoint.path} resumes; give {epoch + 1} or more")
