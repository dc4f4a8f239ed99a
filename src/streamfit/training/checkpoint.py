"""Checkpoints of a running `fit`, and exact resumption from them.

A checkpoint is a pair of files in the checkpoint directory, named after its
serial number (the order of writing) and the position it holds::

    ckpt-000012-e0003-s000037.pt    tensors only (torch.save, read with weights_only=True)
    ckpt-000012-e0003-s000037.json  everything else, and the .pt's size and SHA-256

"e0003-s000037" reads "37 steps of the third epoch done" (epochs count from 1
in names and messages, as in `ModelCheckpoint`); an epoch-end checkpoint
after the third epoch is "e0004-s000000".

The `.pt` holds a plain dict of tensors: the module's weights, the
optimizer's `state_dict`, torch's random generator states, the running sums
of the epoch's loss and metrics, and callbacks' tensors (the best weights of
`EarlyStopping(restore_best_weights=True)`). The `.json` holds the position
(seed, epoch, step), the `History` so far with `data_wait`, callbacks'
`state_dict()`s, the epoch's row count and wait time so far, whether
`stop_training` was set, and the fingerprint of the data and options that the
resumed run must match. No pickle: the `.pt` is read with
`torch.load(weights_only=True)`, which refuses Python objects.

Each file goes to a temporary name, is flushed and fsynced, renamed over
with `os.replace`, and the directory is fsynced; the `.json` comes last and
commits the checkpoint, so a crash (or power loss) at any moment leaves the
earlier checkpoints as they were and never one that half exists. After each
write only the newest `keep` checkpoints remain.

Resuming is exact: batches are addressed by (epoch, step) and dropout is
seeded from (seed, epoch, step), so with the restored weights, optimizer
state, running sums and callback state the resumed run computes the same
values as the run that was interrupted, bit for bit, on the same device and
torch version with the same number of threads.

In data-parallel training (`Replicas`) rank 0 writes the checkpoints (the
module's own weights, loadable by a single process; the running sums over
all ranks) and every rank reads the one rank 0 resumes from. A run with the
same number of processes resumes exactly; one with another number restarts
at the beginning of the checkpoint's epoch (`for_world_size`), with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from streamfit import distributed
from streamfit.batches.base import BatchSet
from streamfit.errors import TrainingInterrupted, UserError
from streamfit.files import write_atomic
from streamfit.sampling.sampler import EpochSampler, SamplerState
from streamfit.training.metrics import RunningMeans

if TYPE_CHECKING:
    from streamfit.training.loop import LoopState
    from streamfit.training.model import Model
    from streamfit.training.replicas import Replicas

FORMAT = "streamfit.checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d+)-e(\d+)-s(\d+)\.json$")
_CHUNK = 1 << 20


def describe(epoch: int, step: int) -> str:
    """`"epoch 3 step 37"`: 37 steps of the third epoch (0-based `epoch` 2) done."""
    return f"epoch {epoch + 1} step {step}"


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


# -- fingerprint ----------------------------------------------------------------------------

def _source_identity(source: Any, steps: int) -> dict[str, Any]:
    if not isinstance(source, BatchSet):
        return {"class": "generator", "steps": steps}
    # Most telling first: a mismatch message names the first three differences.
    identity: dict[str, Any] = {"class": type(source).__name__, "num_samples": source.num_samples}
    sampler = getattr(source, "sampler", None)
    if isinstance(sampler, EpochSampler):
        identity.update(num_rows=sampler.num_rows, batch_size=sampler.batch_size,
                        shuffle=sampler.shuffle, drop_remainder=sampler.drop_remainder,
                        rank=sampler.rank, world_size=sampler.world_size)
        if sampler.shuffle:
            # Without shuffling the order, and so the run, does not depend on it.
            identity["seed"] = sampler.seed
    else:
        for name in ("num_rows", "batch_size", "seed"):
            value = getattr(source, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                identity[name] = value
    identity.update(batches=len(source), steps=steps)
    return identity


def _settings(optimizer: torch.optim.Optimizer | None) -> dict[str, Any] | None:
    if optimizer is None:
        return None
    plain = (int, float, str, bool, type(None))
    settings = {}
    for name, value in optimizer.defaults.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, plain) or (isinstance(value, (tuple, list))
                                        and all(isinstance(item, plain) for item in value)):
            settings[name] = value
    return settings


def fingerprint_of(model: Model, source: Any, steps: int, validation: tuple[Any, int] | None,
                   class_weight: dict | None, user: dict | None,
                   world_size: int = 1) -> dict[str, Any]:
    """What a resumed run must share with the checkpointed one.

    Args:
        model: the model (its seed, module parameters, optimizer, loss, metrics).
        source: the training batch set.
        steps: training steps per epoch.
        validation: `(source, steps)` of the validation data, or None.
        class_weight: the `class_weight` argument.
        user: the caller's own `fingerprint=` (JSON-ready), e.g. the data's path
            and modification time or a config digest.
        world_size: the processes training together (kept, not compared:
            see `for_world_size`).

    Returns:
        A JSON-ready dict.

    Raises:
        UserError: `user` is not a dict JSON can hold.
    """
    if user is not None:
        try:
            if not isinstance(user, dict):
                raise TypeError(type(user).__name__)
            user = json.loads(json.dumps(user))
        except (TypeError, ValueError) as error:
            raise UserError(
                f"fingerprint={user!r} cannot be stored as JSON ({error}); give a dict of "
                "strings, numbers, lists and dicts") from None
    fingerprint = {
        "data": _source_identity(source, steps),
        "validation": None if validation is None else _source_identity(*validation),
        "model": {
            "seed": model.seed,
            "module": type(model.module).__name__,
            "parameters": {name: list(value.shape) for name, value in model.module.state_dict().items()},
            "optimizer": type(model.optimizer).__name__ if model.optimizer is not None else None,
            # The constructor's settings: learning rates changed by callbacks live in
            # param_groups and come back from the checkpoint.
            "optimizer_settings": _settings(model.optimizer),
            "loss": model.loss.name if model.loss is not None else None,
            "metrics": [metric.name for metric in model.metrics],
        },
        "class_weight": None if class_weight is None else {str(k): float(v) for k, v in class_weight.items()},
        "user": user,
        "world_size": world_size,
    }
    # As JSON gives it back: tuples become lists, numpy integers plain ones.
    return json.loads(json.dumps(fingerprint, default=int))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


#: What a batch set's identity says about one rank's shard rather than the data.
_SHARD = ("rank", "num_samples")
#: ... and what changes with the number of shards, for the same global batch.
_SHARDING = ("world_size", "batch_size", "batches", "steps")


def _shared_facts(fingerprint: dict[str, Any], other_world: bool) -> dict[str, Any]:
    """The fingerprint less what differs between ranks, or between world sizes.

    Ranks of one run differ in their shard (rank, rows). Runs of different
    world sizes also differ in each shard's batch size and steps, and agree
    on the global batch size instead.
    """
    shared = {key: value for key, value in fingerprint.items() if key != "world_size"}
    for section in ("data", "validation"):
        identity = shared.get(section)
        if not isinstance(identity, dict) or identity.get("world_size", 1) == 1 and not other_world:
            continue
        drop = _SHARD + (_SHARDING if other_world else ())
        shared[section] = {key: value for key, value in identity.items() if key not in drop}
        if other_world and "batch_size" in identity:
            shared[section]["global_batch_size"] = identity["batch_size"] * identity.get("world_size", 1)
    return shared


def check_fingerprint(checkpoint: Checkpoint, current: dict[str, Any]) -> None:
    """Refuse a checkpoint written for other data or options.

    A checkpoint of another rank, or of another number of processes with the
    same global batch size, is accepted (see `for_world_size`).

    Raises:
        UserError: naming up to three differences, e.g. `data.num_samples is
            300 in the checkpoint but 250 now`.
    """
    other_world = checkpoint.meta["fingerprint"].get("world_size", 1) != current.get("world_size", 1)
    saved = _flatten(_shared_facts(checkpoint.meta["fingerprint"], other_world))
    now = _flatten(_shared_facts(current, other_world))

    def shown(flat: dict[str, Any], key: str) -> str:
        return json.dumps(flat[key]) if key in flat else "absent"

    differences = [f"{key} is {shown(saved, key)} in the checkpoint but {shown(now, key)} now"
                   for key in [*now, *(key for key in saved if key not in now)]
                   if key not in saved or key not in now or saved[key] != now[key]]
    if differences:
        more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
        raise UserError(
            f"cannot resume from {checkpoint.path}: it was written for other data or options: "
            f"{'; '.join(differences[:3])}{more}; resume with the same data and options, or "
            "train from the start with another checkpoint_dir")


# -- writing --------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _body_digest(meta: dict[str, Any]) -> str:
    body = {key: value for key, value in meta.items() if key != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _json_ready(value: Any, who: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise UserError(
            f"{who} returned a value JSON cannot hold ({error}); return numbers, strings, "
            "lists and dicts (tensors go in tensor_state_dict())") from None


def _callback_keys(callbacks: list) -> list[str]:
    """`"EarlyStopping#0"`: each callback's class and its rank among those of its class."""
    seen: dict[str, int] = {}
    keys = []
    for callback in callbacks:
        name = type(callback).__name__
        keys.append(f"{name}#{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys


def _capture(model: Model, state: LoopState, fingerprint: dict[str, Any], serial: int,
             running: RunningMeans) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the run's state into the JSON part and the tensors."""
    rng = {"cpu": torch.get_rng_state()}
    if model.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(model.device)
    running_tensors = {name: value.detach().cpu() for name, value in running.sums.items()
                       if isinstance(value, torch.Tensor)}
    running_floats = {name: float(value) for name, value in running.sums.items()
                      if not isinstance(value, torch.Tensor)}
    callback_states, callback_tensors = {}, {}
    callbacks = state.callbacks.callbacks
    for key, callback in zip(_callback_keys(callbacks), callbacks, strict=True):
        if callback is state.history:
            continue
        plain = _json_ready(callback.state_dict(), f"{type(callback).__name__}.state_dict()")
        tensors = {name: value.detach().cpu() for name, value in callback.tensor_state_dict().items()}
        if plain or tensors:
            callback_states[key] = plain
            callback_tensors[key] = tensors
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "serial": serial,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "position": SamplerState(model.seed, state.epoch, state.step).state_dict(),
        "epoch_begun": state.epoch_begun,
        "stop_training": bool(model.stop_training),
        "fingerprint": fingerprint,
        "history": _json_ready({"history": state.history.history, "epoch": state.history.epoch,
                                "data_wait": state.history.data_wait}, "History"),
        "logs": _json_ready(state.logs, "the epoch logs"),
        "running": {"rows": running.rows, "floats": running_floats},
        "time": {"wait_seconds": state.wait_seconds, "seconds": state.seconds},
        "callbacks": callback_states,
    }
    tensors = {
        "module": {name: value.detach().cpu() for name, value in model.module.state_dict().items()},
        "optimizer": model.optimizer.state_dict() if model.optimizer is not None else None,
        "rng": rng,
        "running": running_tensors,
        "callbacks": callback_tensors,
    }
    return meta, tensors


class _InterruptFlag:
    """Turns the first Ctrl-C into a request, so that the loop stops after a whole step.

    Installed only in the main thread and only over Python's default handler
    (someone else's handler is left alone). A second Ctrl-C raises
    `KeyboardInterrupt` at once, for a step that hangs. `announce` says so on
    stderr (rank 0 only, in data-parallel training).
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

    def __enter__(self) -> _InterruptFlag:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _positive(name: str, value: Any, kinds: tuple[type, ...] = (int,)) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        raise UserError(f"{name}={value!r} must be a positive "
                        f"{'integer' if kinds == (int,) else 'number'} or None")
    return value


def _prepare_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise UserError(f"checkpoint_dir={str(directory)!r} is a file; give a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(
            f"checkpoint_dir={str(directory)!r} cannot be written ({error.strerror or error}); "
            "give a directory you can write to") from None


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
        UserError: a directory that is a file or cannot be written, or an
            option that is not a positive number.
    """

    def __init__(self, directory: str | os.PathLike, *, every_steps: int | None = None,
                 every_minutes: float | None = None, keep: int = 3,
                 replicas: Replicas | None = None):
        self.directory = Path(directory)
        self.every_steps = _positive("checkpoint_every_steps", every_steps)
        minutes = _positive("checkpoint_every_minutes", every_minutes, (int, float))
        self.every_seconds = None if minutes is None else minutes * 60.0
        if keep is None:
            raise UserError("keep_checkpoints=None must be a positive integer")
        self.keep = _positive("keep_checkpoints", keep)
        self.replicas = replicas
        self.writes = replicas is None or replicas.is_main
        serials = []
        if self.writes:
            _prepare_directory(self.directory)
            serials = [int(match[1]) for match in map(_NAME.match, os.listdir(self.directory)) if match]
        self.serial = max(serials, default=0)
        self.latest: Path | None = None
        self.steps = 0
        self.fingerprint: dict[str, Any] = {}
        self._position: tuple[int, int, bool] | None = None
        self._verified = False
        self._last_write = time.monotonic()
        self._interrupts = _InterruptFlag(announce=self.writes)

    def start(self, steps: int, fingerprint: dict[str, Any], resumed: Checkpoint | None) -> None:
        """Begin a run of `steps` per epoch; a resumed run's position is not written again."""
        self.steps = steps
        self.fingerprint = fingerprint
        if resumed is not None:
            self.latest = resumed.path
            self._position = (resumed.epoch, resumed.step, resumed.meta["epoch_begun"])
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

    def save(self, model: Model, state: LoopState) -> Path | None:
        """Write a checkpoint of the current position (once per position) and prune old ones.

        Returns:
            The checkpoint's `.json` (None on ranks other than 0, which write nothing).

        Raises:
            UserError: a callback state JSON cannot hold, a disk error, or (at
                the first write of a run) a checkpoint that cannot be read back
                without pickle.
        """
        running = self.replicas.total(state.running) if self.replicas is not None else state.running
        position = (state.epoch, state.step, state.epoch_begun)
        if not self.writes:
            # Ranks that write nothing still restart the clock, or their `due` would
            # stay true and make rank 0 write after every step.
            self._last_write = time.monotonic()
            return self.latest
        if position == self._position and self.latest is not None:
            return self.latest
        self.serial += 1
        stem = f"ckpt-{self.serial:06d}-e{state.epoch + 1:04d}-s{state.step:06d}"
        meta, tensors = _capture(model, state, self.fingerprint, self.serial, running)
        tensor_path = self.directory / f"{stem}.pt"
        json_path = self.directory / f"{stem}.json"
        try:
            write_atomic(tensor_path, lambda file: torch.save(tensors, file))
            meta["tensors"] = tensor_path.name
            meta["bytes"] = tensor_path.stat().st_size
            meta["sha256"] = _sha256(tensor_path)
            meta["digest"] = _body_digest(meta)
            text = json.dumps(meta, indent=1) + "\n"
            write_atomic(json_path, lambda file: file.write(text.encode()))
        except OSError as error:
            raise UserError(
                f"cannot write the checkpoint {json_path} ({error.strerror or error}); free "
                "space or give another checkpoint_dir") from None
        if not self._verified:
            # Catch state that only pickle could read back now, not at resume time.
            read_checkpoint(json_path)
            self._verified = True
        self.latest = json_path
        self._position = position
        self._last_write = time.monotonic()
        self._prune()
        return json_path

    def _prune(self) -> None:
        names = os.listdir(self.directory)
        newest = sorted((int(match[1]), match[0][:-len(".json")])
                        for match in map(_NAME.match, names) if match)[-self.keep:]
        kept = {stem for _, stem in newest}
        # JSON first: a checkpoint whose .json is gone is no longer a candidate.
        for name in sorted(names, key=lambda name: not name.endswith(".json")):
            stem, _, suffix = name.rpartition(".")
            stale = ((name.startswith("ckpt-") and suffix in ("json", "pt") and stem not in kept)
                     or (name.startswith(".ckpt-") and suffix == "tmp"))
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / name).unlink()

    def interrupted(self, model: Model, state: LoopState, save: bool = True) -> TrainingInterrupted:
        """Save the position (when it is a consistent one and `save`) and say how to resume."""
        where = describe(state.epoch, state.step)
        if state.consistent and save:
            path = self.save(model, state)
            return TrainingInterrupted(
                f"training interrupted at {where}; checkpoint saved to {path}; resume with "
                f"--resume or fit(..., resume_from={str(self.directory)!r})",
                path, state.epoch, state.step)
        if self.latest is None:
            return TrainingInterrupted(
                f"training interrupted inside {where}, before any checkpoint was written; "
                "train again from the start", None, state.epoch, state.step)
        return TrainingInterrupted(
            f"training interrupted inside {where}, where no consistent checkpoint can be taken; "
            f"the latest checkpoint is {self.latest}; resume with --resume or "
            f"fit(..., resume_from={str(self.directory)!r})", self.latest, state.epoch, state.step)


# -- reading --------------------------------------------------------------------------------

def _damaged(path: Path, why: str) -> UserError:
    return UserError(f"checkpoint {path} is damaged ({why}); resume from an earlier checkpoint "
                     "or delete it")


def _json_path(path: Path) -> Path:
    if path.suffix == ".pt":
        return path.with_suffix(".json")
    return path


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
    path = _json_path(Path(path))
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; give a checkpoint's .json or its directory")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(path, f"not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a streamfit checkpoint; give a .json that fit(checkpoint_dir=...) wrote")
    if meta.get("version") != VERSION:
        raise UserError(f"checkpoint {path} has format version {meta.get('version')}; this "
                        f"streamfit reads version {VERSION}, so use the streamfit that wrote it")
    if meta.get("digest") != _body_digest(meta):
        raise _damaged(path, "its contents do not match their recorded digest")
    SamplerState.from_state_dict(meta["position"])
    tensor_path = path.with_name(meta["tensors"])
    if not tensor_path.is_file():
        raise _damaged(path, f"its tensor file {tensor_path.name} is missing")
    size = tensor_path.stat().st_size
    if size != meta["bytes"]:
        raise _damaged(path, f"{tensor_path.name} has {size} bytes, {meta['bytes']} were written")
    if _sha256(tensor_path) != meta["sha256"]:
        raise _damaged(path, f"the SHA-256 of {tensor_path.name} differs from the one written")
    return Checkpoint(path, meta, read_tensors(tensor_path))


def read_tensors(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint's `.pt` without pickle.

    Raises:
        UserError: the file holds Python objects other than tensors and
            plain containers (refused unread), or is not a tensor file.
    """
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(
            f"{path} holds pickled Python objects, not only tensors; streamfit refuses to load "
            "it (checkpoints it writes never do): use a checkpoint that fit wrote") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise _damaged(Path(path), first) from None
    if not isinstance(tensors, dict) or not {"module", "optimizer", "rng", "running",
                                              "callbacks"} <= tensors.keys():
        raise _damaged(Path(path), "it lacks the module, optimizer, rng, running or callbacks entry")
    return tensors


def _candidates(directory: Path) -> list[Path]:
    matches = [match for match in map(_NAME.match, os.listdir(directory)) if match]
    return [directory / match[0] for match in sorted(matches, key=lambda m: int(m[1]), reverse=True)]


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
    candidates = _candidates(directory)
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
    meta = {**checkpoint.meta, "position": {**checkpoint.meta["position"], "step": 0},
            "epoch_begun": False, "running": {"rows": 0, "floats": {}},
            "time": {"wait_seconds": 0.0, "seconds": 0.0}}
    return Checkpoint(checkpoint.path, meta, {**checkpoint.tensors, "running": {}})


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
    raise UserError(
        f"resume_from={str(path)!r} does not exist; give a checkpoint's .json or the "
        "checkpoint directory")


# -- restoring ------------------------------------------------------------------------------

def restore_model(model: Model, checkpoint: Checkpoint) -> None:
    """Load the checkpoint's weights and optimizer state into `model`.

    Raises:
        UserError: weights or optimizer state that do not fit the model.
    """
    tensors = checkpoint.tensors
    try:
        model.module.load_state_dict(tensors["module"])
        if model.optimizer is not None and tensors["optimizer"] is not None:
            model.optimizer.load_state_dict(tensors["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0]
        raise UserError(
            f"the state in {checkpoint.path} does not fit this model ({first}); build the model "
            "and optimizer as the checkpointed run did") from None


def restore_loop(model: Model, state: LoopState, checkpoint: Checkpoint) -> None:
    """Restore position, history, running means, callbacks and random state into `state`.

    Called after `on_train_begin`, so that callbacks reset there get their
    saved state back.

    Raises:
        UserError: the checkpoint holds state for callbacks this run lacks, or
            this run has stateful callbacks the checkpoint does not know.
    """
    meta, tensors = checkpoint.meta, checkpoint.tensors
    callbacks = [cb for cb in state.callbacks.callbacks if cb is not state.history]
    saved = dict(meta["callbacks"])
    for key, callback in zip(_callback_keys(callbacks), callbacks, strict=True):
        if key in saved:
            callback.load_state_dict(saved.pop(key))
            callback.load_tensor_state_dict(tensors["callbacks"].get(key, {}))
        elif callback.state_dict() or callback.tensor_state_dict():
            raise UserError(
                f"cannot resume from {checkpoint.path}: it holds no state for the callback "
                f"{key.replace('#', ' #')}; pass the callbacks the checkpointed run had")
    if saved:
        raise UserError(
            f"cannot resume from {checkpoint.path}: it holds state of the callback "
            f"{next(iter(saved)).replace('#', ' #')}, which this run lacks; pass the callbacks "
            "the checkpointed run had")
    history = meta["history"]
    state.history.history = history["history"]
    state.history.epoch = history["epoch"]
    state.history.data_wait = history["data_wait"]
    state.epoch, state.step = checkpoint.epoch, checkpoint.step
    state.epoch_begun = meta["epoch_begun"]
    state.logs = meta["logs"]
    state.wait_seconds = meta["time"]["wait_seconds"]
    state.seconds = meta["time"]["seconds"]
    sums: dict[str, torch.Tensor | float] = dict(meta["running"]["floats"])
    sums.update((name, value.to(model.device)) for name, value in tensors["running"].items())
    state.running.load_state_dict({"sums": sums, "rows": meta["running"]["rows"]})
    model.stop_training = meta["stop_training"]
    torch.set_rng_state(tensors["rng"]["cpu"])
    if model.device.type == "cuda" and "cuda" in tensors["rng"]:
        torch.cuda.set_rng_state(tensors["rng"]["cuda"], model.device)
