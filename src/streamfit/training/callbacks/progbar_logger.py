"""`ProgbarLogger`: Keras' progress-bar callback, drawing `streamfit.training.progress` displays."""

from __future__ import annotations

from streamfit.training.callbacks.callback import Callback
from streamfit.training.progress import Progress, resolve_verbose


class ProgbarLogger(Callback):
    """Show progress from the callback hooks, as Keras' `ProgbarLogger`.

    `fit`, `evaluate` and `predict` show progress themselves (`verbose=`);
    given among the callbacks, this logger shows it instead, so there is
    one bar, as in Keras. It reads `verbose`, `epochs` and `steps` from the
    call's params: with `verbose=0` it shows nothing, with 1 a bar per epoch
    (headed `Epoch 1/3` when there are several), with 2 one line per epoch.
    Inside `fit` the validation passes are silent; `evaluate` and `predict`
    get their own bar. Unlike the built-in display it shows no `data_wait`,
    which is measured after the epoch's callbacks have run.

    Example:
        >>> model.fit(x, y, epochs=3, callbacks=[ProgbarLogger()])  # doctest: +SKIP
    """

    #: Tells `fit`, `evaluate` and `predict` to leave the display to this callback.
    shows_progress = True

    def __init__(self) -> None:
        super().__init__()
        self.progress: Progress | None = None
        self._in_fit = False

    def _start(self, title: str) -> None:
        self._stop()
        verbose = resolve_verbose(self.params.get("verbose", 1))
        self.progress = Progress(verbose, self.params.get("steps") or 0, title, by_callback=True)

    def _update(self, logs: dict | None) -> None:
        if self.progress is not None:
            logs = dict(logs or {})
            rows = logs.pop("size", 0)
            logs.pop("outputs", None)
            self.progress.update(rows, lambda: logs)

    def _finish(self, logs: dict | None = None) -> None:
        if self.progress is not None:
            self.progress.close({key: value for key, value in (logs or {}).items()
                                 if key != "size"})
            self.progress = None

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self._stop()
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start(f"Epoch {epoch + 1}/{self.params.get('epochs', 1)}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._update(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._finish(logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._start("evaluate")

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._update(logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._start("predict")

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Prediction's batch logs hold the outputs (an array, or a dict of them), not a size.
        if self.progress is not None:
            outputs = (logs or {}).get("outputs")
            while isinstance(outputs, dict):
                outputs = next(iter(outputs.values()), None)
            self.progress.update(len(outputs) if outputs is not None else 0, dict)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._finish()
