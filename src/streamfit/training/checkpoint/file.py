"""The checkpoint files: their names, format and digests; writing and reading one.

A checkpoint is a pair of files in the checkpoint directory, named after its
serial number (the order of writing) and the position it holds::

    ckpt-000012-e0003-s000037.pt    tensors only (torch.save, read with weights_only=True)
    ckpt-000012-e0003-s000037.json  everything else, and the .pt's size and SHA-256

"e0003-s000037" reads "37 steps of the third epoch done" (epochs count from 1
in names and messages, as in `ModelCheckpoint`); an epoch-end checkpoint
after the third epoch is "e0004-s000000".

The `.json` holds `format`, `version`, `serial`, `written` (the time), the
`fingerprint` of the data and options that a resumed run must match, the
`tensors` file's name, `bytes` and `sha256`, the `digest` of all the rest,
and the run's parts as `LoopState.state_dict()` gives them (`position`,
`epoch_begun`, `stop_training`, `logs`, `time`, `running`, `callbacks`; see
`streamfit.training.stateful`). The `.pt` holds a plain dict of tensors: the
model's (`module`, `optimizer`) and the loop's (`rng`, `running`,
`callbacks`). No pickle: the `.pt` is read with `torch.load(weights_only=True)`,
which refuses Python objects.

Each file goes to a temporary name, is flushed and fsynced, renamed over
with `os.replace`, and the directory is fsynced (`streamfit.files.write_atomic`);
the `.json` comes last and commits the checkpoint, so a crash (or power loss)
at any moment leaves the earlier checkpoints as they were and never one that
half exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from streamfit.errors import OptionError, UserError
from streamfit.files import is_disk_full, open_regular, write_atomic
from streamfit.sampling.sampler import SamplerState
from streamfit.training.stateful import Stateful

FORMAT = "streamfit.checkpoint"
#: 2: `History` is saved among the callbacks (`History#0`), not as its own `history`.
VERSION = 2
_NAME = re.compile(r"^ckpt-(\d+)-e(\d+)-s(\d+)\.json$")
#: The files a checkpoint directory holds of ours: checkpoints and their temporaries.
_OURS = re.compile(r"^\.?ckpt-\d+-e\d+-s\d+\.(json|pt)(\.tmp)?$")
#: The largest checkpoint `.json` read (a real one holds a few kB and the training history).
_MAX_JSON_BYTES = 64 << 20
_CHUNK = 1 << 20


def describe(epoch: int, step: int) -> str:
    """`"epoch 3 step 37"`: 37 steps of the third epoch (0-based `epoch` 2) done."""
    return f"epoch {epoch + 1} step {step}"


def checkpoint_stem(serial: int, epoch: int, step: int) -> str:
    """`"ckpt-000012-e0003-s000037"`: the name of the `serial`-th checkpoint, at (epoch, step)."""
    return f"ckpt-{serial:06d}-e{epoch + 1:04d}-s{step:06d}"


def checkpoint_serials(directory: Path) -> dict[int, str]:
    """`{serial: stem}` of the checkpoints (their `.json`) in `directory`."""
    return {int(match[1]): match[0][:-len(".json")]
            for match in map(_NAME.match, os.listdir(directory)) if match}


def damaged(path: Path, why: str) -> UserError:
    """The error for a checkpoint that cannot be read back."""
    return UserError(f"checkpoint {path} is damaged ({why}); resume from an earlier checkpoint "
                     "or delete it")


@dataclass
class Checkpoint:
    """A checkpoint read back and checked: its `.json` and its tensors."""

    path: Path
    meta: dict[str, Any]
    tensors: dict[str, Any]

    @property
    def epoch(self) -> int:
        return self.meta["position"]["epoch"]

    @property
    def step(self) -> int:
        return self.meta["position"]["step"]

    @property
    def position(self) -> tuple[int, int, bool]:
        """`(epoch, step, epoch_begun)`, as `LoopState.position`."""
        return self.epoch, self.step, self.meta["epoch_begun"]

    def restore(self, part: Stateful | Any) -> None:
        """Load `part`'s entries: its `load_state_dict` and `load_tensor_state_dict`, where it has them.

        Raises:
            UserError: `cannot resume from PATH: ...`, the part's reason (other
                callbacks, weights of another shape), or an entry missing.
        """
        try:
            if isinstance(part, Stateful):
                part.load_state_dict(self.meta)
            if hasattr(part, "load_tensor_state_dict"):
                part.load_tensor_state_dict(self.tensors)
        except KeyError as error:
            raise damaged(self.path, f"it has no {error} entry") from None
        except UserError as error:
            raise UserError(f"cannot resume from {self.path}: {error}") from None


def _sha256(source: Path | IO[bytes]) -> str:
    digest = hashlib.sha256()
    with open(source, "rb") if isinstance(source, (str, os.PathLike)) else contextlib.nullcontext(source) as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading, refused (`UserError`) when a link or not a regular file."""
    try:
        return open_regular(path)
    except UserError as error:
        raise UserError(f"checkpoint {error}; give a checkpoint that fit wrote") from None


def body_digest(meta: dict[str, Any]) -> str:
    """The SHA-256 of a checkpoint's `.json` less its `digest`."""
    body = {key: value for key, value in meta.items() if key != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_checkpoint(directory: Path, serial: int, epoch: int, step: int,
                     state: dict[str, Any], tensors: dict[str, Any],
                     fingerprint: dict[str, Any]) -> Path:
    """Write the `serial`-th checkpoint: the `.pt`, then the `.json` that commits it.

    Args:
        directory: the checkpoint directory.
        serial, epoch, step: for the name.
        state: the parts' JSON-ready state.
        tensors: the parts' tensors.
        fingerprint: what a resumed run must match.

    Returns:
        The `.json`.

    Raises:
        UserError: a disk error (the earlier checkpoints stay as they were).
    """
    stem = checkpoint_stem(serial, epoch, step)
    tensor_path, json_path = directory / f"{stem}.pt", directory / f"{stem}.json"
    meta = {"format": FORMAT, "version": VERSION, "serial": serial,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "fingerprint": fingerprint, **state}
    try:
        write_atomic(tensor_path, lambda file: torch.save(tensors, file))
        meta["tensors"] = tensor_path.name
        meta["bytes"] = tensor_path.stat().st_size
        meta["sha256"] = _sha256(tensor_path)
        meta["digest"] = body_digest(meta)
        text = json.dumps(meta, indent=1) + "\n"
        write_atomic(json_path, lambda file: file.write(text.encode()))
    except (OSError, RuntimeError) as error:
        if not isinstance(error, OSError) and not is_disk_full(error):
            raise
        needed = ""
        if is_disk_full(error):
            size = sum(t.numel() * t.element_size() for t in _tensors_in(tensors))
            try:
                free = f", {shutil.disk_usage(directory).free} free"
            except OSError:
                free = ""
            needed = f": it needs about {size} bytes{free}"
        raise OptionError(
            "checkpoint_dir", str(directory),
            f"cannot take the checkpoint {json_path.name} ({_reason(error)}){needed}; "
            "free space or give another directory (the earlier checkpoints are as they were)") from None
    return json_path


def _reason(error: BaseException) -> str:
    """The OS's words for a failed write (for `torch.save`'s RuntimeError, those of its cause)."""
    while not isinstance(error, OSError) and (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    return getattr(error, "strerror", None) or str(error).splitlines()[0]


def _tensors_in(value: Any):
    """Every tensor in a nest of dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors_in(item)


#: A checkpoint `.json`'s fields and the kinds each holds (`None`: any JSON value).
_FIELDS: dict[str, tuple[type, ...] | None] = {
    "format": (str,), "version": (int,), "serial": (int,), "written": (str,),
    "fingerprint": (dict,), "position": (dict,), "epoch_begun": (bool,), "stop_training": (bool,),
    "logs": None, "time": (dict,), "running": None, "callbacks": None, "tensors": (str,),
    "bytes": (int,), "sha256": (str,), "digest": (str,)}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def remove_checkpoints(directory: Path) -> None:
    """Remove the checkpoints in `directory` (and their temporaries), then it if it is empty.

    Only files named as checkpoints are removed: anything else there stays.
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if _OURS.match(name):
            with contextlib.suppress(FileNotFoundError):
                (directory / name).unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


def _check_fields(path: Path, meta: dict[str, Any]) -> None:
    """Refuse an unknown, missing or ill-kinded field, naming it."""
    for key in meta:
        if key not in _FIELDS:
            raise damaged(path, f"its field {key!r} is none of a checkpoint's")
    for key, kinds in _FIELDS.items():
        if key not in meta:
            raise damaged(path, f"its field {key!r} is missing")
        value = meta[key]
        if kinds is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise damaged(path, f"its field {key!r} holds a {type(value).__name__}")
    name = meta["tensors"]
    if (name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name or name.startswith(".")
            or not name.endswith(".pt")):
        raise damaged(path, f"its field 'tensors' is {name!r}, not the name of a .pt file beside it")
    if meta["bytes"] < 0 or not _SHA256.match(meta["sha256"]):
        raise damaged(path, "its fields 'bytes' and 'sha256' are no size and SHA-256")


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check one checkpoint (its `.json` or `.pt` path).

    Returns:
        The `Checkpoint`, tensors on the CPU.

    Raises:
        UserError: a missing file, a `.json` that is not one of ours or whose
            digest does not match, a `.pt` whose size or SHA-256 differ from
            the recorded ones (truncated, tampered), or one that holds
            pickled objects rather than tensors.
    """
    path = Path(path)
    if path.suffix == ".pt":
        path = path.with_suffix(".json")
    if not path.exists() and not path.is_symlink():
        raise UserError(f"checkpoint {path} does not exist; give a checkpoint's .json or its directory")
    try:
        with _open_regular(path) as file:
            meta = json.loads(file.read(_MAX_JSON_BYTES + 1))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise damaged(path, f"not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a streamfit checkpoint; give a .json that fit(checkpoint_dir=...) wrote")
    if meta.get("version") != VERSION:
        raise UserError(f"checkpoint {path} has format version {meta.get('version')}; this "
                        f"streamfit reads version {VERSION}, so use the streamfit that wrote it")
    if meta.get("digest") != body_digest(meta):
        raise damaged(path, "its contents do not match their recorded digest")
    _check_fields(path, meta)
    try:
        SamplerState.from_state_dict(meta["position"])
    except (KeyError, TypeError, ValueError, UserError) as error:
        raise damaged(path, f"its position is not one: {error}") from None
    tensor_path = path.with_name(meta["tensors"])
    if not tensor_path.exists() and not tensor_path.is_symlink():
        raise damaged(path, f"its tensor file {tensor_path.name} is missing")
    try:
        file = _open_regular(tensor_path)
    except UserError as error:
        raise damaged(path, str(error)) from None
    with file:  # one open file, hashed and then read: no swapping it in between
        size = os.fstat(file.fileno()).st_size
        if size != meta["bytes"]:
            raise damaged(path, f"{tensor_path.name} has {size} bytes, {meta['bytes']} were written")
        if _sha256(file) != meta["sha256"]:
            raise damaged(path, f"the SHA-256 of {tensor_path.name} differs from the one written")
        file.seek(0)
        return Checkpoint(path, meta, read_tensors(file, name=tensor_path))


def read_tensors(source: str | os.PathLike | IO[bytes], name: str | os.PathLike | None = None) -> dict[str, Any]:
    """Load a checkpoint's `.pt` (a path, or an open file and its `name`) without pickle.

    A path that is a symbolic link, or not a regular file, is refused.

    Raises:
        UserError: the file holds Python objects other than tensors and
            plain containers (refused unread), or is not a tensor file.
    """
    if isinstance(source, (str, os.PathLike)):
        with _open_regular(Path(source)) as file:
            return read_tensors(file, source)
    path = Path(name if name is not None else getattr(source, "name", "the checkpoint"))
    try:
        tensors = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(
            f"{path} holds pickled Python objects, not only tensors; streamfit refuses to load "
            "it (checkpoints it writes never do): use a checkpoint that fit wrote") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, IndexError,
            zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise damaged(path, first) from None
    if not isinstance(tensors, dict):
        raise damaged(path, f"it holds a {type(tensors).__name__}, not a dict of tensors")
    return tensors
