"""`MonitorCallback`: what `EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau` share.

Each watches one log key (`monitor`), which improves downward or upward
(`mode`), by at least `min_delta`, and warns for an epoch whose logs lack it.
"""

from __future__ import annotations

import warnings

from streamfit.errors import OptionError
from streamfit.training.callbacks.callback import Callback


class MonitorCallback(Callback):
    """A callback that acts when the monitored value improves, or stops improving.

    Args:
        monitor: the log key, e.g. "val_loss" or "val_accuracy".
        mode: "min", "max", or "auto" (max when the name holds "acc" or "auc").
        min_delta: the smallest change that counts as an improvement.

    Attributes:
        maximize: whether the value improves upward.

    Raises:
        OptionError: an unknown mode.
    """

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise OptionError("mode", mode, "is not a mode; use 'auto', 'min' or 'max'")
        self.monitor = monitor
        self.maximize = ("acc" in monitor or "auc" in monitor) if mode == "auto" else mode == "max"
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
