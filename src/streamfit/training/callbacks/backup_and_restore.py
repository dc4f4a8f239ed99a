"""`BackupAndRestore`: Keras' name for `fit`'s exact checkpoints in a folder of their own.

Keras' callback writes the weights and the epoch to `backup_dir` and, when
`fit` starts again after a crash, loads them and skips the epochs done.
streamfit has that built in, and exact: `fit(checkpoint_dir=..., resume_from=...)`
restores the weights, the optimizer, the position within the epoch, the
running means and every callback's state (`streamfit.training.checkpoint`).
This callback only turns itself into those arguments (`checkpoint_arguments`,
which `Model.fit` calls) and, when training ends normally, deletes the
checkpoints it wrote.

"What it wrote" is proved, not guessed: every checkpoint of one training run
(the first start and each resumption) holds this callback's state, with a
random token drawn at the first start; at the end only the checkpoints
holding that token are deleted, then the folder if that left it empty and
the run created it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from streamfit import distributed
from streamfit.errors import OptionError, UserError
from streamfit.training.callbacks.callback import Callback, check_frequency


class CheckpointArguments(NamedTuple):
    """`fit`'s checkpoint arguments, after a `BackupAndRestore` among the callbacks."""

    checkpoint_dir: str | os.PathLike | None
    resume_from: str | os.PathLike | None
    checkpoint_every_steps: int | None


def checkpoint_arguments(callbacks: list | None, checkpoint_dir: str | os.PathLike | None,
                         resume_from: str | os.PathLike | None,
                         checkpoint_every_steps: int | None) -> CheckpointArguments:
    """`fit`'s checkpoint arguments as a `BackupAndRestore` in `callbacks` sets them.

    Without one, the arguments as given. With one: `checkpoint_dir` and
    `resume_from` are its `backup_dir`, and its `save_freq` (an integer)
    is `checkpoint_every_steps`.

    Raises:
        UserError: a BackupAndRestore with checkpoint_dir= or resume_from=
            (two places for one run's checkpoints), with both its save_freq
            and checkpoint_every_steps, or two BackupAndRestore callbacks.
    """
    backups = [callback for callback in callbacks or [] if isinstance(callback, BackupAndRestore)]
    if not backups:
        return CheckpointArguments(checkpoint_dir, resume_from, checkpoint_every_steps)
    if len(backups) > 1:
        raise UserError("callbacks= holds two BackupAndRestore callbacks; give one")
    backup = backups[0]
    for name, value in (("checkpoint_dir", checkpoint_dir), ("resume_from", resume_from)):
        if value is not None:
            raise UserError(
                f"fit got {name}= and a BackupAndRestore callback, which checkpoints to its "
                f"backup_dir and resumes from it; give one of them")
    every_steps = checkpoint_every_steps
    if backup.save_freq != "epoch":
        if checkpoint_every_steps is not None:
            raise UserError(
                f"fit got checkpoint_every_steps={checkpoint_every_steps} and BackupAndRestore"
                f"(save_freq={backup.save_freq}); give one of them")
        every_steps = backup.save_freq
    backup.arm()
    return CheckpointArguments(backup.backup_dir, backup.backup_dir, every_steps)


def _holds_token(path: Path, token: str) -> bool:
    """Whether the checkpoint `.json` at `path` is intact and holds `BackupAndRestore` `token`."""
    # Imported here: the checkpoint package imports the loop state, which imports callbacks.
    from streamfit.training.checkpoint.file import FORMAT, body_digest

    try:
        if path.is_symlink() or path.stat().st_size > (64 << 20):
            return False
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("digest") != body_digest(meta):
        return False
    state = (meta.get("callbacks") or {}).get(f"{BackupAndRestore.__name__}#0") or {}
    return state.get("token") == token and meta.get("tensors") == f"{path.stem}.pt"


class BackupAndRestore(Callback):
    """Checkpoint `fit` to `backup_dir` and, run again after a crash, resume there exactly.

    `fit(..., callbacks=[BackupAndRestore("backup")])` is `fit(...,
    checkpoint_dir="backup", resume_from="backup")` (see `Model.fit`), plus
    the deletion of its checkpoints when training ends (after the last
    epoch, or stopped by a callback). A run that ended in an exception or
    Ctrl-C keeps them, so the same call resumes it: at the step of the last
    checkpoint, with the weights, optimizer state, History and callbacks
    that one uninterrupted run would have there. The data, model, optimizer
    and callbacks must be built as in the interrupted run (a different
    fingerprint is refused).

    Args:
        backup_dir: the checkpoints' folder (created); give it to one run only.
        save_freq: "epoch" checkpoints at each epoch's end; an integer N also
            every N training steps (counted over the run). Either way the
            newest `keep_checkpoints` (fit's argument) are kept, and a damaged
            newest one falls back to the one before it.
        double_checkpoint: accepted for Keras' code and not needed: fit keeps
            the newest `keep_checkpoints` (3 by default) whatever it says.
        delete_checkpoint: delete its checkpoints when training ends.

    Raises:
        OptionError: an empty backup_dir, or a save_freq that is neither
            "epoch" nor an integer >= 1.
    """

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int = "epoch",
                 double_checkpoint: bool = False, delete_checkpoint: bool = True):
        super().__init__()
        if not os.fspath(backup_dir):
            raise OptionError("backup_dir", backup_dir, "is empty; give the checkpoints' folder")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = check_frequency("save_freq", save_freq, "steps")
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self.token: str | None = None
        self.created_dir = False
        self._armed = False
        self._dir_existed = False

    def arm(self) -> None:
        """Called by `checkpoint_arguments` before `fit` creates the folder: note whether it exists."""
        self._armed = True
        self._dir_existed = os.path.lexists(self.backup_dir)

    def on_train_begin(self, logs=None):
        if not self._armed:
            raise UserError("BackupAndRestore works through Model.fit's checkpoints, and this "
                            "training loop did not ask for them; pass it to streamfit's fit")
        # A fresh start draws its token; a resumed run gets the first start's back (load_state_dict).
        self.token = secrets.token_hex(16)
        self.created_dir = not self._dir_existed

    def on_train_end(self, logs=None):
        self._armed = False
        if self.delete_checkpoint and self.token is not None and distributed.is_main():
            self._delete_ours()

    def _delete_ours(self) -> None:
        from streamfit.training.checkpoint.file import checkpoint_serials  # see _holds_token

        directory = Path(self.backup_dir)
        if not directory.is_dir():
            return
        for stem in checkpoint_serials(directory).values():
            path = directory / f"{stem}.json"
            if _holds_token(path, self.token):
                # The .json first: a checkpoint without it is no longer a resume point.
                path.unlink()
                with contextlib.suppress(FileNotFoundError):
                    (directory / f"{stem}.pt").unlink()
        left = sorted(os.listdir(directory))
        if not left and self.created_dir:
            directory.rmdir()
        elif left:
            warnings.warn(f"BackupAndRestore deleted its checkpoints and left {directory}, which "
                          f"holds what this run did not write ({left[0]}, ...)", UserWarning,
                          stacklevel=2)

    def state_dict(self) -> dict[str, Any]:
        return {"token": self.token, "created_dir": self.created_dir}
