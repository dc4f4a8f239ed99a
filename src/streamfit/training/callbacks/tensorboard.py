"""`TensorBoard`: the logs as TensorBoard event files, written by `torch.utils.tensorboard`."""

from __future__ import annotations

import os
from typing import Any

from streamfit import distributed
from streamfit.errors import OptionError, UserError, check_number
from streamfit.training.callbacks.callback import Callback, check_frequency
from streamfit.training.optimizers import learning_rate

#: Keras' arguments that streamfit does not write, with what Keras writes for each.
_UNSUPPORTED = {"write_images": "weights as images", "write_steps_per_second": "steps per second",
                "profile_batch": "a profile", "embeddings_freq": "embeddings",
                "embeddings_metadata": "embeddings"}


def summary_writer_class() -> type:
    """`torch.utils.tensorboard.SummaryWriter`, or the error naming the extra to install.

    Raises:
        UserError: the tensorboard package is not installed.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("TensorBoard needs the tensorboard package: pip install "
                        "'streamfit[tensorboard]'") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Write the epoch (and, with `update_freq`, batch) logs for TensorBoard, as Keras 3 does.

    Under `log_dir/train`: `epoch_loss`, `epoch_accuracy`, ... and
    `epoch_learning_rate` at step `epoch` (0-based); under
    `log_dir/validation`: the `val_` values without the prefix (`epoch_loss`).
    With `update_freq=N`, also `batch_loss`, ... (the epoch's running means)
    under `log_dir/train` after every Nth training batch, at step
    `epoch * steps + batch + 1`, the batch's position in the run (as Keras'
    count from 1 for a run that starts at epoch 0). With `histogram_freq=N`,
    each parameter's histogram (`net.0.weight/histogram`) every N epochs.

    Only rank 0 writes, in data-parallel training. A resumed run hides
    (TensorBoard's `purge_step`) the epoch values that the interrupted run
    wrote after its checkpoint; with `update_freq=N` the train folder holds
    batch steps too, so there the interrupted run's last batch values after
    the checkpoint stay and show twice.

    Args:
        log_dir: the folder of event files (created).
        histogram_freq: every how many epochs to write the histograms (0: never).
        write_graph: accepted as Keras 3 accepts it: no graph is written.
        update_freq: "epoch", "batch" (every batch) or an integer N.
        write_images, write_steps_per_second, profile_batch, embeddings_freq,
        embeddings_metadata: Keras' options that streamfit does not write;
            only their defaults are accepted.

    Raises:
        UserError: the tensorboard package is not installed (the extra
            `streamfit[tensorboard]`).
        OptionError: an update_freq or histogram_freq out of range, or one of
            the options streamfit does not write.
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 0,
                 write_graph: bool = True, write_images: bool = False,
                 write_steps_per_second: bool = False, update_freq: str | int = "epoch",
                 profile_batch: int = 0, embeddings_freq: int = 0,
                 embeddings_metadata: dict | None = None):
        super().__init__()
        self._writer_class = summary_writer_class()
        given = {"write_images": write_images, "write_steps_per_second": write_steps_per_second,
                 "profile_batch": profile_batch, "embeddings_freq": embeddings_freq,
                 "embeddings_metadata": embeddings_metadata}
        for name, value in given.items():
            if value:
                raise OptionError(name, value, f"asks for {_UNSUPPORTED[name]}, which streamfit's "
                                  "TensorBoard does not write; leave it out")
        if update_freq == "batch":
            update_freq = 1
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = check_number("histogram_freq", histogram_freq, minimum=0)
        self.write_graph = write_graph
        self.update_freq = check_frequency("update_freq", update_freq, "batches", "'epoch', 'batch'")
        self.epoch = 0
        self._writers: dict[str, Any] = {}
        self._resumed = False
        if update_freq != "epoch":
            # Only then a batch hook: batch logs cost a wait for the device (`wants_batch_logs`).
            self.on_train_batch_end = self._batch_end

    def _writer(self, name: str) -> Any:
        """The writer of `log_dir/name`, created at its first value."""
        if name not in self._writers:
            # The epochs from the resumed one on were the interrupted run's: hide them. The
            # train folder of a run that writes batch steps holds two kinds of step: no purge.
            purge = self._resumed and (name == "validation" or self.update_freq == "epoch")
            self._writers[name] = self._writer_class(os.path.join(self.log_dir, name),
                                                     purge_step=self.epoch if purge else None)
        return self._writers[name]

    @staticmethod
    def _writes() -> bool:
        return distributed.is_main()

    def on_train_begin(self, logs=None):
        self.epoch = 0
        self._resumed = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self.epoch * self.params.get("steps", 0) + batch + 1
        if step % self.update_freq or not logs or not self._writes():
            return
        writer = self._writer("train")
        for name, value in logs.items():
            if name != "size":
                writer.add_scalar(f"batch_{name}", value, step)

    def on_epoch_end(self, epoch, logs=None):
        if not self._writes():
            return
        logs = logs or {}
        train = {key: value for key, value in logs.items() if not key.startswith("val_")}
        if self.model is not None and getattr(self.model, "optimizer", None) is not None:
            train["learning_rate"] = learning_rate(self.model.optimizer)
        validation = {key[len("val_"):]: value for key, value in logs.items() if key.startswith("val_")}
        for folder, values in (("train", train), ("validation", validation)):
            if values:
                writer = self._writer(folder)
                for name, value in values.items():
                    writer.add_scalar(f"epoch_{name}", value, epoch)
                writer.flush()
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for name, parameter in self.model.module.named_parameters():
                writer.add_histogram(f"{name}/histogram", parameter.detach().cpu(), epoch)
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a run: its epoch (not begun again when resumed within it), and purge later values."""
        self.epoch = state["epoch"]
        self._resumed = True
