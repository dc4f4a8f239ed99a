"""`MonitorCallback`: what `EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau` share.

Each watches one log key (`monitor`), which improves downward or upward
(`mode`), by at least `min_delta`, and warns for an epoch whose logs lack it.
"""

from __future__ import annotations

import warnings

from streamfit.errors import OptionError
from streamfit.training.callbacks.callback import Callback

#: Log keys (less "val_") that improve downward: losses, and Keras' error metrics.
LOWER_IS_BETTER = frozenset({
    "loss", "mae", "mse", "mape", "msle", "mean_absolute_error", "mean_squared_error",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber", "log_cosh",
    "kld", "kl_divergence", "hinge", "squared_hinge", "poisson", "crossentropy",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"})
#: Log keys (less "val_") that improve upward: Keras' and streamfit's scores.
HIGHER_IS_BETTER = frozenset({
    "acc", "auc", "precision", "recall", "f1", "f1_score", "fbeta_score", "macro_f1", "micro_f1",
    "weighted_f1", "r2_score", "iou", "mean_iou"})


def improves_upward(monitor: str) -> bool:
    """What `mode="auto"` means for `monitor`, as Keras 3 decides it, or an error.

    A loss (a key ending in "loss") and an error metric go down; accuracies
    (any key holding "accuracy") and the scores above go up.

    Raises:
        OptionError: anything else, which mode="auto" cannot tell (a typo
            such as "val_los", or a metric of the user's): pass mode.
    """
    name = monitor.removeprefix("val_")
    if name.endswith("loss") or name in LOWER_IS_BETTER:
        return False
    if "accuracy" in name or name in HIGHER_IS_BETTER:
        return True
    raise OptionError("monitor", monitor, "is not a loss or a metric whose direction mode='auto' "
                      "knows (a typo?); pass mode='max' if higher is better, or mode='min'")


class MonitorCallback(Callback):
    """A callback that acts when the monitored value improves, or stops improving.

    Args:
        monitor: the log key, e.g. "val_loss" or "val_accuracy".
        mode: "min", "max", or "auto" (`improves_upward`: losses down, scores up;
            an error for a key it does not know).
        min_delta: the smallest change that counts as an improvement.

    Attributes:
        maximize: whether the value improves upward.

    Raises:
        OptionError: an unknown mode, or mode "auto" for a monitor whose
            direction it cannot tell.
    """

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise OptionError("mode", mode, "is not a mode; use 'auto', 'min' or 'max'")
        self.monitor = monitor
        self.maximize = improves_upward(monitor) if mode == "auto" else mode == "max"
        self.min_delta = min_delta

    def _improves(self, value: float, reference: float | None) -> bool:
        """Whether `value` beats `reference` (None: nothing to beat yet) by `min_delta`."""
        if reference is None:
            return True
        return (value - self.min_delta > reference if self.maximize
                else value + self.min_delta < reference)

    def _monitored(self, logs: dict | None, instead: str = "the epoch is skipped") -> float | None:
        """The monitored value in `logs`, or None (with a warning saying what happens `instead`)."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            # A missing key (no validation data, a typo): what Keras does, said.
            warnings.warn(f"{type(self).__name__} monitors {self.monitor!r}, which is not in the "
                          f"logs ({sorted(logs or {})}); {instead}", stacklevel=3)
        return value
