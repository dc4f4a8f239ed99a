"""What `verbose=` shows while a loop runs.

- 0: nothing.
- 1: a tqdm bar on stderr per epoch (or per evaluate/predict pass) with the
  ETA, the running loss and metrics and samples/s; at the end the epoch's
  logs and `data_wait`.
- 2: one line per epoch on stdout, Keras' style:
  `Epoch 3/10 - 1.2s - loss: 0.3012 - accuracy: 0.8800 - val_loss: 0.3311 - val_accuracy: 0.8700 - data_wait: 1.3%`
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

_REFRESH_SECONDS = 0.5


def format_logs(logs: dict) -> str:
    """`"loss: 0.3012 - accuracy: 0.8800"`: numbers with 4 decimals, in log order."""
    return " - ".join(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
                      for key, value in logs.items())


class Progress:
    """Progress of one pass over `steps` batches.

    Args:
        verbose: 0, 1 or 2 (see the module docstring).
        steps: batches in the pass.
        title: "Epoch 3/10", "evaluate" or "predict".
        done: steps already done (an epoch resumed from a checkpoint).
    """

    def __init__(self, verbose: int, steps: int, title: str, done: int = 0):
        self.verbose = verbose
        self.title = title
        self.rows = 0
        self.start = time.perf_counter()
        self._shown = self.start
        self.bar = (tqdm(total=steps, initial=done, desc=title, unit="step", file=sys.stderr,
                         leave=True)
                    if verbose == 1 else None)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        # After an error the bar is closed as it stands; close() already ran otherwise.
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _rate(self, now: float) -> str:
        return f"{self.rows / max(now - self.start, 1e-9):.0f} samples/s"

    def update(self, rows: int, running_logs: Callable[[], dict]) -> None:
        """Count one batch of `rows`; `running_logs()` is read only when the bar redraws.

        Reading the logs waits for the device, so it happens at most every
        half second, not at every step.
        """
        self.rows += rows
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self._shown >= _REFRESH_SECONDS:
            self._shown = now
            logs = running_logs()
            self.bar.set_postfix_str(" - ".join([format_logs(logs)] * bool(logs) + [self._rate(now)]),
                                     refresh=False)

    def close(self, logs: dict | None = None, data_wait: float | None = None) -> None:
        """Show the final logs (and `data_wait`, a fraction) and end the pass."""
        now = time.perf_counter()
        parts = [format_logs(logs)] if logs else []
        if data_wait is not None:
            parts.append(f"data_wait: {data_wait:.1%}")
        if self.bar is not None:
            self.bar.set_postfix_str(" - ".join([*parts, self._rate(now)]), refresh=False)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            print(" - ".join([self.title, f"{now - self.start:.1f}s", *parts]), flush=True)
