"""`TerminateOnNaN`: stop at the first batch whose loss is not finite."""

from __future__ import annotations

import math

from streamfit.training.callbacks.callback import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite, as Keras 3's `TerminateOnNaN`.

    Args:
        raise_error: raise a `RuntimeError` at once instead of stopping after
            the batch; no `on_train_end` runs then, so `BackupAndRestore`
            keeps its checkpoints and `EarlyStopping` restores nothing.
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               "Terminating training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
