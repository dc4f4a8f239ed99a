"""`History`: the epoch logs that `fit` returns."""

from __future__ import annotations

from typing import Any

from streamfit.training.callbacks.callback import Callback


def _keras_order(logs: dict, names: list[str] | None) -> list[tuple[str, Any]]:
    """`logs` in Keras 3's order: the model's own values sorted, their `val_` copies sorted, the rest.

    Keras 3 sorts the training logs and the validation logs by name (so
    `accuracy` comes before `loss`); what callbacks add (`learning_rate`)
    follows in the order they added it.
    """
    if not names:
        return list(logs.items())
    train = sorted(key for key in logs if key in names)
    validation = sorted(key for key in logs if key.startswith("val_") and key[4:] in names)
    first = {*train, *validation}
    return [(key, logs[key]) for key in [*train, *validation, *(k for k in logs if k not in first)]]


class History(Callback):
    """Records epoch logs; `fit` returns it.

    Attributes:
        history: `{"accuracy": [...], "loss": [...], "val_accuracy": [...],
            "val_loss": [...], ...}`, one value per epoch run, keys in Keras 3's
            order: the training values by name, then the validation values by
            name, then what callbacks added (`learning_rate`).
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
        for key, value in _keras_order(logs or {}, getattr(self.model, "metrics_names", None)):
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch, "data_wait": self.data_wait}
