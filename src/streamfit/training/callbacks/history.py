"""`History`: the epoch logs that `fit` returns."""

from __future__ import annotations

from typing import Any

from streamfit.training.callbacks.callback import Callback


class History(Callback):
    """Records epoch logs; `fit` returns it.

    Attributes:
        history: `{"loss": [...], "accuracy": [...], "val_loss": [...], ...}`,
            one value per epoch run.
        epoch: the (0-based) indices of the epochs run, from `initial_epoch`.
        data_wait: per epoch, the fraction of training time spent waiting for
            batches (0 to 1). Kept out of `history` so that code iterating
            metrics sees only metrics.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.data_wait: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch, "data_wait": self.data_wait}
