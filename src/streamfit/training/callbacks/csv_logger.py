"""`CSVLogger`: one CSV row per epoch, cut back to the checkpoint's rows on resume."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from streamfit.training.callbacks.callback import Callback


def _cell(value: Any) -> Any:
    """A log value as Keras writes it: a list or array (not a 0-d one) as `"[1, 2]"`."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Write one CSV row per epoch: `epoch`, then the log keys in sorted order, as Keras 3.

    The columns are those of the first epoch's logs, sorted; when they hold
    no `val_` key, a `val_` column follows for each (a run that validates
    only on some epochs, or not at all). A value missing from an epoch's
    logs is written `NA`. The file is created (or emptied) even by a run of
    no epochs.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file instead of overwriting it; the header
            is written only when the file is missing or empty.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None
        self._write_header = True
        self._mode = "w"
        self._written: int | None = None

    def on_train_begin(self, logs=None):
        # The file opens at the first row, so that a resumed run can first cut
        # the rows written after its checkpoint (load_state_dict).
        self._write_header = not (self.append and os.path.exists(self.filename)
                                  and os.path.getsize(self.filename) > 0)
        self._mode = "a" if self.append else "w"
        self._file = None
        self._writer = None
        self.keys = None
        self._written = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:
            self._file = open(self.filename, self._mode, newline="")  # noqa: SIM115
        if self._writer is None:
            if self.keys is None:
                self.keys = sorted(logs)
                if self.keys and not any(key.startswith("val_") for key in self.keys):
                    self.keys += [f"val_{key}" for key in self.keys]
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(_cell(logs.get(key, "NA")) for key in self.keys)])
        self._file.flush()
        self._written = self._file.tell()

    def on_train_end(self, logs=None):
        if self._file is None:  # no epoch ended: Keras has created (or emptied) the file
            self._file = open(self.filename, self._mode, newline="")  # noqa: SIM115
        self._file.close()
        self._file = None
        self._writer = None

    def state_dict(self) -> dict[str, Any]:
        """The columns and the file's size after the last row written, for a checkpoint."""
        return {"keys": self.keys, "written": self._written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Drop the rows written after the checkpoint; the next rows follow the saved ones."""
        self.keys, self._written = state["keys"], state["written"]
        if self._written is None:
            return
        if os.path.exists(self.filename) and os.path.getsize(self.filename) >= self._written:
            with open(self.filename, "r+b") as file:
                file.truncate(self._written)
        self._mode = "a"
        self._write_header = False
