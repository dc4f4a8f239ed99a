"""What `verbose=` shows while a loop runs, on stdout as Keras prints it.

- 0: nothing.
- 1: with several epochs, Keras 3's `Epoch 3/10` header line, then a tqdm
  bar per epoch (or per evaluate/predict pass) with the ETA, the running
  loss and metrics and samples/s; at the end the epoch's logs and
  `data_wait`.
- 2: one line per epoch, Keras' style:
  `Epoch 3/10 - 1.2s - loss: 0.3012 - accuracy: 0.8800 - val_loss: 0.3311 - val_accuracy: 0.8700 - data_wait: 1.3%`
- "auto": 1 on a terminal or in a notebook, else 2 (a bar redrawn in a log
  file is noise), for `fit`, `evaluate` and `predict` alike.

A `ProgbarLogger` among the callbacks draws the same displays from its hooks;
while one is there (`shown_by_callback`), the loops' own stay silent, so there
is one bar, as in Keras.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import sys
import time
from collections.abc import Callable, Iterator

from tqdm import tqdm

from streamfit.errors import OptionError

_REFRESH_SECONDS = 0.5
_EPOCH_TITLE = re.compile(r"Epoch \d+/(\d+)")
# True while a ProgbarLogger callback shows progress: the loops' displays are silent.
_BY_CALLBACK: contextvars.ContextVar[bool] = contextvars.ContextVar("by_callback", default=False)


def resolve_verbose(verbose: int | str) -> int:
    """0, 1 or 2 from `verbose` (a bool is 0 or 1): "auto" is 1 on a terminal or notebook, else 2.

    Keras 3 makes "auto" 1 everywhere; its bar then rewrites one line even in
    a log file. streamfit writes one line per epoch there instead.

    Raises:
        OptionError: anything but 0, 1, 2 or "auto".
    """
    if verbose == "auto":
        interactive = getattr(sys.stdout, "isatty", lambda: False)() or "ipykernel" in sys.modules
        return 1 if interactive else 2
    if isinstance(verbose, str) or verbose not in (0, 1, 2):  # True and False are 1 and 0
        raise OptionError("verbose", verbose, "must be 0 (silent), 1 (a progress bar), 2 (one "
                          "line per epoch) or 'auto'")
    return int(verbose)


@contextlib.contextmanager
def shown_by_callback(callbacks: list | None) -> Iterator[None]:
    """Within, loop displays are silent when a callback (a `ProgbarLogger`) shows progress."""
    token = _BY_CALLBACK.set(any(getattr(callback, "shows_progress", False)
                                 for callback in callbacks or []))
    try:
        yield
    finally:
        _BY_CALLBACK.reset(token)


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
        by_callback: drawn by a `ProgbarLogger`, so shown inside `shown_by_callback`.
    """

    def __init__(self, verbose: int, steps: int, title: str, done: int = 0, *,
                 by_callback: bool = False):
        if _BY_CALLBACK.get() and not by_callback:
            verbose = 0
        self.verbose = verbose
        self.title = title
        self.rows = 0
        self.start = time.perf_counter()
        self._shown = self.start
        self.bar = None
        if verbose == 1:
            epochs = _EPOCH_TITLE.fullmatch(title)
            header = epochs is not None and int(epochs.group(1)) > 1
            if header:
                # Keras 3 heads each epoch's bar so when there are several.
                print(title, file=sys.stdout, flush=True)
            self.bar = tqdm(total=steps, initial=done, desc=None if header else title,
                            unit="step", file=sys.stdout, leave=True)

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
