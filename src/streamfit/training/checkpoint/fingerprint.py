"""The fingerprint of a run: what a resumed run must share with the checkpointed one.

It names the data (batch set class, rows, batch size, shuffling, seed,
shard, steps), the validation data, the model (seed, module class and
parameter shapes, optimizer and its settings, loss, metrics), the class
weights, the caller's own `fingerprint=` and the world size. Resuming with
another one is refused, naming the first differences; a checkpoint of
another rank, or of another number of processes with the same global batch
size, is accepted (see `streamfit.training.checkpoint.resume.for_world_size`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch

from streamfit import records
from streamfit.batches.base import BatchSet
from streamfit.errors import OptionError, UserError
from streamfit.sampling.sampler import EpochSampler

if TYPE_CHECKING:
    from streamfit.training.checkpoint.file import Checkpoint
    from streamfit.training.model import Model


def _batches_identity(batches: Any, steps: int) -> dict[str, Any]:
    if not isinstance(batches, BatchSet):
        return {"class": "generator", "steps": steps}
    # Most telling first: a mismatch message names the first three differences.
    identity: dict[str, Any] = {"class": type(batches).__name__, "num_samples": batches.num_samples}
    sampler = getattr(batches, "sampler", None)
    if isinstance(sampler, EpochSampler):
        identity.update(num_rows=sampler.num_rows, batch_size=sampler.batch_size,
                        shuffle=sampler.shuffle, drop_remainder=sampler.drop_remainder,
                        rank=sampler.rank, world_size=sampler.world_size)
        if sampler.shuffle:
            # Without shuffling the order, and so the run, does not depend on it.
            identity["seed"] = sampler.seed
    else:
        for name in ("num_rows", "batch_size", "seed"):
            value = getattr(batches, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                identity[name] = value
    identity.update(batches=len(batches), steps=steps)
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


def fingerprint_of(model: Model, batches: Any, steps: int, validation: tuple[Any, int] | None,
                   class_weight: dict | None, user: dict | None,
                   world_size: int = 1) -> dict[str, Any]:
    """What a resumed run must share with the checkpointed one.

    Args:
        model: the model (its seed, module parameters, optimizer, loss, metrics).
        batches: the training batch set.
        steps: training steps per epoch.
        validation: `(batches, steps)` of the validation data, or None.
        class_weight: the `class_weight` argument (a dict, "balanced" or None).
        user: the caller's own `fingerprint=` (JSON-ready), e.g. the data's path
            and modification time or a config digest.
        world_size: the processes training together (kept, not compared:
            see `resume.for_world_size`).

    Returns:
        A JSON-ready dict.

    Raises:
        OptionError: `user` is not a dict JSON can hold.
    """
    if user is not None:
        try:
            if not isinstance(user, dict):
                raise TypeError(type(user).__name__)
            user = json.loads(json.dumps(user))
        except (TypeError, ValueError) as error:
            raise OptionError("fingerprint", user, f"cannot be stored as JSON ({error}); give a "
                              "dict of strings, numbers, lists and dicts") from None
    fingerprint = {
        "data": _batches_identity(batches, steps),
        "validation": None if validation is None else _batches_identity(*validation),
        "model": {
            "seed": model.seed,
            "module": type(model.module).__name__,
            "parameters": {name: list(value.shape) for name, value in model.module.state_dict().items()},
            "optimizer": type(model.optimizer).__name__ if model.optimizer is not None else None,
            # The constructor's settings: learning rates changed by callbacks live in
            # param_groups and come back from the checkpoint.
            "optimizer_settings": _settings(model.optimizer),
            "loss": model.loss.name if model.loss is not None else None,
            # Its settings (focal gamma, huber delta, loss_weights), not what it reads
            # (logits or probabilities), which the first batch decides in either run.
            "loss_settings": ({"weight": model.loss.weight, **model.loss.options}
                              if model.loss is not None else None),
            "metrics": [metric.name for metric in model.metrics],
        },
        "class_weight": class_weight if not isinstance(class_weight, dict)
        else {str(k): float(v) for k, v in class_weight.items()} or None,
        "user": user,
        "world_size": world_size,
    }
    # As JSON gives it back: tuples become lists, numpy integers plain ones.
    return json.loads(json.dumps(fingerprint, default=int))


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


class FingerprintMismatch(UserError):  # noqa: N818 (a UserError, named for what it says)
    """A checkpoint written for other data or options than the run resuming from it.

    Attributes:
        path: the checkpoint's `.json`.
        differences: each difference, most telling first (`data.num_samples is
            300 in the checkpoint but 250 now`).
    """

    def __init__(self, message: str, path: Any, differences: list[str]):
        super().__init__(message)
        self.path = path
        self.differences = differences


def check_fingerprint(checkpoint: Checkpoint, current: dict[str, Any]) -> None:
    """Refuse a checkpoint written for other data or options.

    A checkpoint of another rank, or of another number of processes with the
    same global batch size, is accepted (see `resume.for_world_size`).

    Raises:
        FingerprintMismatch: (a UserError) naming up to three differences, e.g.
            `data.num_samples is 300 in the checkpoint but 250 now`.
    """
    other_world = checkpoint.meta["fingerprint"].get("world_size", 1) != current.get("world_size", 1)
    differences = records.differences(_shared_facts(checkpoint.meta["fingerprint"], other_world),
                                      _shared_facts(current, other_world))
    if differences:
        more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
        raise FingerprintMismatch(
            f"cannot resume from {checkpoint.path}: it was written for other data or options: "
            f"{'; '.join(differences[:3])}{more}; resume with the same data and options, or "
            "train from the start with another checkpoint_dir", checkpoint.path, differences)
