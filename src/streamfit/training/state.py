"""`LoopState`: where a `fit` is, and the one place that says what of it a checkpoint keeps.

Resuming in the middle of an epoch is a matter of restoring this state:
batches are addressed by (epoch, step) and dropout is seeded from (seed,
epoch, step), never from what ran before. The loop marks each span that
changes the state in several moves (a step, `on_epoch_begin`, the epoch's
end) with `half_done()`; no checkpoint is taken inside one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from streamfit.sampling.sampler import SamplerState
from streamfit.training.callbacks import CallbackList, History
from streamfit.training.metrics import RunningMeans
from streamfit.training.stateful import json_ready

if TYPE_CHECKING:
    from streamfit.training.model import Model


class _HalfDone:
    """The span of `LoopState.half_done()`; a class, not a generator: it runs every step."""

    __slots__ = ("state",)

    def __init__(self, state: LoopState):
        self.state = state

    def __enter__(self) -> None:
        self.state._whole = False

    def __exit__(self, kind: type | None, *_: Any) -> None:
        # An exception (Ctrl-C) leaves the state half done: no checkpoint may hold it.
        if kind is None:
            self.state._whole = True


@dataclass
class LoopState:
    """Where a `fit` is: the next epoch and step, what it has recorded, who listens.

    A checkpoint saves all of it (`state_dict`, `tensor_state_dict`), beside
    the model's weights and optimizer state; restoring it resumes the run
    exactly.

    Attributes:
        model: the `Model` being trained (its seed, device and `stop_training`).
        epoch: the epoch running (0-based, counting from `initial_epoch`).
        history: the `History` that `fit` returns.
        callbacks: every callback, `history` last.
        step: the next batch of that epoch (= steps done in it).
        running: the epoch's running means of loss and metrics so far.
        epoch_begun: whether `on_epoch_begin` ran for `epoch` already.
        logs: the logs of the last epoch that ended (for `on_train_end`).
        wait_seconds: seconds this epoch has waited for batches so far.
        seconds: seconds this epoch has run so far.
    """

    model: Model
    epoch: int
    history: History
    callbacks: CallbackList
    step: int = 0
    running: RunningMeans = field(default_factory=RunningMeans)
    epoch_begun: bool = False
    logs: dict = field(default_factory=dict)
    wait_seconds: float = 0.0
    seconds: float = 0.0
    # False until the loop has begun (or restored) the run, and inside `half_done()`.
    _whole: bool = field(default=False, init=False, repr=False)

    def half_done(self) -> _HalfDone:
        """A context for a change in several moves: the state is whole again only when it ends.

        Example:
            >>> with state.half_done():   # doctest: +SKIP
            ...     callbacks.on_epoch_begin(state.epoch)
            ...     state.epoch_begun = True
        """
        return _HalfDone(self)

    @property
    def may_save(self) -> bool:
        """Whether the state is whole: the loop is between two of its steps or hooks."""
        return self._whole

    @property
    def position(self) -> tuple[int, int, bool]:
        """`(epoch, step, epoch_begun)`: no two checkpoints of a run hold the same one."""
        return self.epoch, self.step, self.epoch_begun

    def next_epoch(self) -> None:
        """Move to step 0 of the next epoch, with fresh running means and clocks."""
        self.epoch += 1
        self.step = 0
        self.running = RunningMeans()
        self.epoch_begun = False
        self.wait_seconds = 0.0
        self.seconds = 0.0

    def state_dict(self) -> dict[str, Any]:
        """The JSON-ready part: position, epoch flags, logs, clocks, running sums, callbacks.

        Raises:
            UserError: logs or a callback state JSON cannot hold.
        """
        return {
            "position": SamplerState(self.model.seed, self.epoch, self.step).state_dict(),
            "epoch_begun": self.epoch_begun,
            "stop_training": bool(self.model.stop_training),
            "logs": json_ready(self.logs, "the epoch logs"),
            "time": {"wait_seconds": self.wait_seconds, "seconds": self.seconds},
            "running": self.running.state_dict(),
            "callbacks": self.callbacks.state_dict(),
        }

    def tensor_state_dict(self) -> dict[str, Any]:
        """The tensors: torch's random state, the running sums, callbacks' tensors (on the CPU)."""
        rng = {"cpu": torch.get_rng_state()}
        if self.model.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.model.device)
        return {"rng": rng, "running": self.running.tensor_state_dict(),
                "callbacks": self.callbacks.tensor_state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()`'s output (called after `on_train_begin`).

        Raises:
            UserError: a malformed position, or callbacks other than the saved ones.
        """
        self.callbacks.load_state_dict(state["callbacks"])
        position = SamplerState.from_state_dict(state["position"])
        self.epoch, self.step = position.epoch, position.step
        self.epoch_begun = state["epoch_begun"]
        self.model.stop_training = state["stop_training"]
        self.logs = state["logs"]
        self.wait_seconds = state["time"]["wait_seconds"]
        self.seconds = state["time"]["seconds"]
        self.running.load_state_dict(state["running"])

    def load_tensor_state_dict(self, tensors: dict[str, Any]) -> None:
        """Continue from `tensor_state_dict()`'s output (after `load_state_dict`)."""
        device = self.model.device
        self.running.load_tensor_state_dict({name: value.to(device)
                                             for name, value in tensors["running"].items()})
        self.callbacks.load_tensor_state_dict(tensors["callbacks"])
        torch.set_rng_state(tensors["rng"]["cpu"])
        if device.type == "cuda" and "cuda" in tensors["rng"]:
            torch.cuda.set_rng_state(tensors["rng"]["cuda"], device)

    @staticmethod
    def at_epoch_start(state: dict[str, Any], tensors: dict[str, Any]) -> tuple[dict, dict]:
        """A saved state moved back to the start of its epoch, as `next_epoch` leaves one.

        Args:
            state: a `state_dict()`.
            tensors: its `tensor_state_dict()`.

        Returns:
            The two, with step 0, the epoch not begun, no running sums, clocks at 0.
        """
        fresh = RunningMeans()
        return ({**state, "position": {**state["position"], "step": 0}, "epoch_begun": False,
                 "running": fresh.state_dict(), "time": {"wait_seconds": 0.0, "seconds": 0.0}},
                {**tensors, "running": fresh.tensor_state_dict()})
