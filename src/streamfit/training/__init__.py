"""Training layer: Keras' `fit` / `fit_generator` API around any torch module.

Which module owns which argument:

| module | owns |
| --- | --- |
| `model` | `Model`: loss, optimizer, metrics, device, seed; `fit`, `evaluate`, `predict`, `save` |
| `data` | x, y, sample_weight, batch_size, shuffle, validation_split, validation_data, steps |
| `loop` | epochs, initial_epoch, class_weight, dropout seeding |
| `state`, `stateful` | the loop state, and what each stateful part saves in a checkpoint |
| `checkpoint/` | checkpoint_dir, checkpoint_every_steps/minutes, keep_checkpoints, resume_from, fingerprint, Ctrl-C |
| `replicas` | data-parallel `fit`: the DDP module, each rank's share of a batch, sums and decisions over ranks |
| `tensors` | batch -> tensors on the device: dtypes, sparse, dict inputs, pinned copies |
| `losses`, `metrics`, `optimizers` | the names accepted for each, and their defaults |
| `callbacks/` | `Callback`, `History`, `EarlyStopping`, `ModelCheckpoint`, ..., one per module |
| `progress` | verbose |
| `saving` | the saved model directory (module classes it may rebuild: `streamfit.models.registry`) |
| (loader layer) | workers, use_multiprocessing, max_queue_size, the data-wait meter |
"""

from streamfit.errors import TrainingInterrupted
from streamfit.models.registry import register_module
from streamfit.training import callbacks
from streamfit.training.callbacks import Callback, History
from streamfit.training.checkpoint import latest_checkpoint, read_checkpoint
from streamfit.training.model import Model, load_model

__all__ = ["Callback", "History", "Model", "TrainingInterrupted", "callbacks", "latest_checkpoint",
           "load_model", "read_checkpoint", "register_module"]
