"""Keras-style callbacks, with Keras' names, arguments and semantics; one per module.

| module | holds |
| --- | --- |
| `callback` | `Callback`, the base with every hook, and `CallbackList`, which calls them |
| `history` | `History`, which `fit` returns |
| `monitor` | `MonitorCallback`: the monitored log key, its mode and `min_delta` |
| `early_stopping`, `model_checkpoint`, `reduce_lr_on_plateau` | the monitoring callbacks |
| `backup_and_restore` | `BackupAndRestore`, and `checkpoint_arguments`: what it makes of `fit`'s checkpoint arguments |
| `csv_logger`, `lambda_callback`, `learning_rate_scheduler`, `terminate_on_nan` | the others |
| `progbar_logger` | `ProgbarLogger`: Keras' progress bar as a callback, drawn by `streamfit.training.progress` |
| `tensorboard` | `TensorBoard`: event files through `torch.utils.tensorboard` (the extra `streamfit[tensorboard]`) |

A callback sees `self.model`, the streamfit `Model` (`.module`,
`.optimizer`, `.stop_training`), and `self.params` (`epochs`, `steps`,
`verbose`). Epochs and batches are 0-based in hooks; file names and printed
messages count epochs from 1, as Keras does.

Epoch logs hold `loss`, each metric by name, and `val_`-prefixed copies after
validation. Batch logs hold the running means of the epoch so far and `size`,
the rows of that batch. Callbacks run in the order given; `History` runs last,
so what earlier callbacks add to the logs (`learning_rate`) is recorded.

Callbacks that keep state between epochs expose `state_dict()` /
`load_state_dict()` with JSON-ready values, and `tensor_state_dict()` /
`load_tensor_state_dict()` with tensors (the weights that
`EarlyStopping(restore_best_weights=True)` holds), for checkpoints (see
`streamfit.training.stateful`). A resumed `fit` calls `on_train_begin` first,
then loads the saved state, so whatever `on_train_begin` resets comes back;
it does not call `on_epoch_begin` again for an epoch that had begun.
"""

from streamfit.training.callbacks.backup_and_restore import BackupAndRestore
from streamfit.training.callbacks.callback import Callback, CallbackList
from streamfit.training.callbacks.csv_logger import CSVLogger
from streamfit.training.callbacks.early_stopping import EarlyStopping
from streamfit.training.callbacks.history import History
from streamfit.training.callbacks.lambda_callback import LambdaCallback
from streamfit.training.callbacks.learning_rate_scheduler import LearningRateScheduler
from streamfit.training.callbacks.model_checkpoint import ModelCheckpoint
from streamfit.training.callbacks.monitor import MonitorCallback
from streamfit.training.callbacks.progbar_logger import ProgbarLogger
from streamfit.training.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from streamfit.training.callbacks.tensorboard import TensorBoard
from streamfit.training.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback",
           "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]
