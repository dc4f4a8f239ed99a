"""`Model`: Keras' `fit` / `fit_generator` / `evaluate` / `predict` around any torch module.

The "Batch training" appendix of Google's text classification guide runs
unchanged::

    model = Model(Mlp(num_features, num_classes), loss="sparse_categorical_crossentropy",
                  optimizer="adam", metrics=["accuracy"])
    history = model.fit_generator(
        generator=training_generator, steps_per_epoch=steps_per_epoch,
        validation_data=validation_generator, validation_steps=validation_steps,
        callbacks=callbacks, epochs=epochs, verbose=2)
    history.history["val_accuracy"][-1]
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch

from streamfit import distributed
from streamfit.batches.arrays import random_seed
from streamfit.batches.base import BatchSet
from streamfit.errors import UserError, check_number
from streamfit.loader import BatchLoader
from streamfit.training.callbacks import CallbackList, History
from streamfit.training.callbacks.backup_and_restore import checkpoint_arguments
from streamfit.training.checkpoint import (
    Checkpoint,
    Checkpointer,
    check_epochs,
    check_fingerprint,
    find_resume_point,
    find_shared_resume_point,
    fingerprint_of,
    for_world_size,
)
from streamfit.training.data import (
    batch_set,
    check_data,
    loader_for,
    split_validation,
    validation_batches,
)
from streamfit.training.keras1 import FIT_GENERATOR_NAMES, PASS_NAMES, from_keras1
from streamfit.training.loop import (
    ClassWeights,
    Validation,
    class_weights_for,
    predict_step,
    run_evaluation,
    run_fit,
    run_prediction,
    test_step,
    train_step,
)
from streamfit.training.losses import get_loss
from streamfit.training.metrics import get_metrics
from streamfit.training.optimizers import get_optimizer
from streamfit.training.progress import Progress, resolve_verbose, shown_by_callback
from streamfit.training.replicas import Replicas
from streamfit.training.saving import read_model, save_model
from streamfit.training.summary import ShapeRecorder, summary_text
from streamfit.training.tensors import resolve_device

#: `fit_generator`'s positional arguments after `generator`, in Keras 2's order
#: (`fit`'s differ); the rest of `fit`'s arguments it takes by keyword, but
#: those of arrays as `x`, which a generator's batches hold themselves.
_GENERATOR_POSITIONAL = ("steps_per_epoch", "epochs", "verbose", "callbacks", "validation_data",
                         "validation_steps", "class_weight", "max_queue_size", "workers",
                         "use_multiprocessing", "shuffle", "initial_epoch")
_ARRAYS_ONLY = ("y", "batch_size", "validation_split", "sample_weight")


def _generator_signature(fit: Callable) -> inspect.Signature:
    """`fit`'s signature as `fit_generator` takes it: `generator` first, Keras 2's order."""
    parameters = inspect.signature(fit).parameters
    generator = parameters["x"].replace(name="generator", default=inspect.Parameter.empty)
    by_keyword = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                  for name, parameter in parameters.items()
                  if name not in ("self", "x", *_GENERATOR_POSITIONAL, *_ARRAYS_ONLY)
                  and parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    return inspect.Signature([parameters["self"], generator,
                              *(parameters[name] for name in _GENERATOR_POSITIONAL), *by_keyword],
                             return_annotation=inspect.signature(fit).return_annotation)


def _pass_signature(method: Callable) -> inspect.Signature:
    """`evaluate`'s or `predict`'s signature as Keras 2's `*_generator` takes it, in its order."""
    parameters = inspect.signature(method).parameters
    generator = parameters["x"].replace(name="generator", default=inspect.Parameter.empty)
    names = ("steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing", "verbose")
    return inspect.Signature([parameters["self"], generator, *(parameters[name] for name in names)],
                             return_annotation=inspect.signature(method).return_annotation)


def _keras2_arguments(call: str, signature: inspect.Signature, keras1_names: tuple[str, ...],
                      args: tuple, kwargs: dict) -> dict[str, Any]:
    """A `*_generator` call's arguments by Keras 2 name, its Keras 1 ones converted.

    Args:
        call: the method's name, for messages.
        signature: its Keras 2 signature, `self` and `generator` first.
        keras1_names: the Keras 1 keywords it takes.
        args: the positional arguments, `self` first.
        kwargs: the keyword arguments.

    Raises:
        TypeError: an argument it does not take, or one given twice.
        UserError: a generator function given instead of a generator.
    """
    keras1 = {name: kwargs.pop(name) for name in list(kwargs) if name in keras1_names}
    arguments = signature.bind(*args, **kwargs).arguments
    del arguments["self"]
    check_data(arguments["generator"], "generator")
    positional = tuple(signature.parameters)[2:len(args)]
    return from_keras1(call, arguments, keras1, positional, stacklevel=4)


class Model:
    """A torch module with Keras' training API.

    Args:
        module: any `torch.nn.Module`. It receives the batch's `x` (a dict of
            inputs goes to `forward` by argument name; a tuple by position)
            and returns logits (or a dict of named outputs). A truthy
            `accepts_sparse` attribute makes scipy sparse inputs arrive as
            `torch.sparse_csr_tensor` instead of dense.
        loss: a name ("sparse_categorical_crossentropy",
            "categorical_crossentropy", "binary_crossentropy", "mse", "mae",
            "huber", "kld", "binary_focal_crossentropy", ...), a Keras-style
            class (`streamfit.losses.BinaryCrossentropy(from_logits=True)`), a
            callable `(output, target) -> per-sample or scalar tensor`, or
            None (a model that only predicts). The crossentropies read logits,
            or the probabilities of a module ending in `nn.Sigmoid` /
            `nn.Softmax` (found on the first batch, with a warning). See
            `streamfit.training.losses`.
        optimizer: "adam", "sgd", "rmsprop", "adamw", "adagrad" (Keras'
            defaults), a `torch.optim.Optimizer`, or a factory
            `lambda params: torch.optim.Adam(params, lr=3e-4)`.
        metrics: names ("accuracy" / "acc", "binary_accuracy", "precision",
            "recall", "auc", "f1_score", ...; see `streamfit.training.metrics`),
            or callables `(output, target) -> scalar`.
        device: "auto" (CUDA when available, else CPU), "cpu" or "cuda".
            Only the current batch is moved there.
        seed: seeds dropout (per step, from (seed, epoch, step)) and the
            shuffling of in-memory arrays; None draws one, kept in `.seed`.
            The module's initial weights are the caller's: build it under
            `torch.manual_seed` for identical runs.
        loss_weights: a number multiplying the loss (or a one-entry list or
            dict: streamfit trains single-output models).

    Attributes:
        module: the torch module, on `device`.
        optimizer: the torch optimizer (None without one).
        stop_training: set by callbacks to end `fit` after the current batch.
        history: the `History` of the last `fit`.

    Raises:
        UserError: a module that is not a `torch.nn.Module`, an unknown name, or
            an unavailable device.
    """

    def __init__(self, module: torch.nn.Module, loss: str | Callable | None = None,
                 optimizer: str | torch.optim.Optimizer | Callable | None = "adam",
                 metrics: list | None = None, device: str | torch.device = "auto",
                 seed: int | None = None, loss_weights: Any = None):
        if not isinstance(module, torch.nn.Module):
            raise UserError(f"Model(module=...) got a {type(module).__name__}; give a torch.nn.Module")
        self.device = resolve_device(device)
        self.module = module.to(self.device)
        seed = check_number("seed", seed, minimum=0, optional=True)
        self.seed = random_seed() if seed is None else int(seed)
        self.stop_training = False
        self.history: History | None = None
        self._shapes = ShapeRecorder(self.module)
        self.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights)

    def compile(self, optimizer: str | torch.optim.Optimizer | Callable | None = "adam",
                loss: str | Callable | None = None, metrics: list | None = None,
                loss_weights: Any = None) -> None:
        """Set the optimizer, loss and metrics, in Keras' order (a new optimizer).

        `compile("adam", "binary_crossentropy", ["accuracy"])` reads as in
        Keras 2 (optimizer, loss, metrics, loss_weights); each means what it
        means in the constructor. A new loss decides again, on the next
        batch, whether the module returns probabilities.
        """
        self.loss = get_loss(loss, loss_weights)
        self.metrics = get_metrics(metrics, self.loss)
        self.optimizer = get_optimizer(optimizer, self.module.parameters())
        self.optimizer_name = optimizer.lower() if isinstance(optimizer, str) else None

    @property
    def metrics_names(self) -> list[str]:
        """`["loss", *metric names]`: the order of `evaluate`'s list result."""
        return ["loss", *(metric.name for metric in self.metrics)]

    @property
    def accepts_sparse(self) -> bool:
        """Whether the module takes `torch.sparse_csr_tensor` inputs."""
        return bool(getattr(self.module, "accepts_sparse", False))

    def _loader(self, batches: Any, workers: int, use_multiprocessing: bool,
                max_queue_size: int) -> BatchLoader:
        return loader_for(batches, workers=workers, use_multiprocessing=use_multiprocessing,
                          max_queue_size=max_queue_size)

    def _class_weights(self, class_weight: dict | str | None,
                       batches: Any = None) -> ClassWeights | None:
        return class_weights_for(class_weight, batches, self.device)

    def _result(self, logs: dict, return_dict: bool) -> float | list | dict:
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def fit(self, x: Any = None, y: Any = None, batch_size: int = 32, epochs: int = 1,
            verbose: int | str = 1, callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, class_weight: dict | str | None = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False,
            checkpoint_dir: str | os.PathLike | None = None,
            checkpoint_every_steps: int | None = None,
            checkpoint_every_minutes: float | None = None, keep_checkpoints: int = 3,
            resume_from: str | os.PathLike | None = None,
            fingerprint: dict | None = None, **keras1: Any) -> History:
        """Train for epochs `initial_epoch .. epochs - 1`, as Keras' `fit`.

        With `checkpoint_dir`, the run can be resumed exactly after a crash or
        Ctrl-C (see `streamfit.training.checkpoint`)::

            model.fit(batches, epochs=10, checkpoint_dir="ckpt", checkpoint_every_steps=500,
                      resume_from="ckpt")

        continues from the newest checkpoint in "ckpt" (or starts when there
        is none) and ends with the weights, metrics and History that one
        uninterrupted run gives.

        In a process group of several ranks (`torchrun`, see
        `streamfit.distributed`) `fit` trains data-parallel: each rank passes
        its own shard of the data (`PreparedBatches(..., rank=, world_size=)`,
        also for `validation_data`), gradients are averaged with
        `DistributedDataParallel`, the logs are means over all ranks' rows, so
        History and early stopping agree on every rank; only rank 0 prints
        and writes checkpoints. Callbacks run on every rank: give the ones
        that write files (`ModelCheckpoint`, `CSVLogger`) on rank 0 only.

        Args:
            x: in-memory arrays (numpy, `np.matrix`, scipy sparse, or a dict by
                input name), batched by `ArrayBatches` with the model's seed; a
                `BatchSet`; a Keras `Sequence` / `PyDataset` or any object with
                `__len__` and `__getitem__` returning batches, read by index
                (its batches reordered each epoch with `shuffle`); a torch
                `Dataset` of samples, batched by `batch_size`, or a
                `DataLoader`, one pass per epoch (see `streamfit.training.data`);
                or a generator of `(x, y)` / `(x, y, sample_weight)` batches,
                consumed as one endless stream across epochs. Give a
                generator (`gen(...)`), not the function that makes it.
            y: targets, with arrays only.
            batch_size: rows per batch, with arrays only; the last batch of an
                epoch holds the remaining rows.
            epochs: the index of the last epoch + 1 (with `initial_epoch=2,
                epochs=5`, epochs 2, 3 and 4 run).
            verbose: 0 silent, 1 a progress bar per epoch (on stdout, headed
                `Epoch 1/3` as Keras 3), 2 one line per epoch, "auto" 1 on a
                terminal or in a notebook and 2 otherwise.
            callbacks: `Callback` instances, run in order.
            validation_split: hold out this last fraction of the arrays (before
                shuffling) for validation; ignored when `validation_data` is given.
            validation_data: a generator, a `BatchSet` (read as epoch 0), or an
                `(x, y)` / `(x, y, sample_weight)` tuple of arrays.
            shuffle: reshuffle arrays (and the batches of a sequence, the
                samples of a torch `Dataset`) every epoch; a batch set owns its order.
            class_weight: `{class id: weight}` multiplying each sample's (or
                token's) loss (unlisted classes weigh 1; `{}` is none, as
                Keras); class ids are read from integer, 0/1 or one-hot
                targets. "balanced" computes `n_samples / (n_classes * count)`
                from the labels of arrays or a `PreparedBatches` (a generator's
                labels are not known up front: pass a dict).
            sample_weight: per-row loss weights `(rows,)`, or per token
                `(rows, maxlen)` (a padding mask), with arrays only. The batch
                loss is `sum(weight * loss) / number of loss values`, as Keras.
            initial_epoch: the first epoch's index (History.epoch starts there).
            steps_per_epoch: batches per epoch; required with a generator, all
                of a batch set by default.
            validation_steps: batches per validation pass; required with a
                validation generator.
            validation_batch_size: rows per validation batch for arrays
                (default `batch_size`).
            max_queue_size: batches the loader may prepare ahead.
            workers: loader threads or processes.
            use_multiprocessing: processes instead of threads.
            checkpoint_dir: write checkpoints here (created): at each epoch
                end, every `checkpoint_every_steps` steps, every
                `checkpoint_every_minutes`, and on Ctrl-C, which then ends
                `fit` with `TrainingInterrupted`. Needs arrays or a `BatchSet`.
            checkpoint_every_steps: also checkpoint every this many steps
                (counted over the run: with 100 steps per epoch and 30, after
                steps 30, 60, 90 of the first epoch, 20, 50, 80 of the second).
            checkpoint_every_minutes: also checkpoint when this long has
                passed since the last one.
            keep_checkpoints: how many checkpoints to keep (the newest).
            resume_from: a checkpoint's `.json` (or `.pt`), or a directory:
                continue from its newest intact checkpoint, warning about
                damaged newer ones; a directory without one (or the missing
                `checkpoint_dir` itself) starts the run from the beginning.
                The position replaces `initial_epoch`; the module, optimizer,
                callbacks and data must be built as in the checkpointed run,
                and `epochs` may be raised to train longer.
            fingerprint: JSON-ready facts about the data or configuration
                (a path, a file size, a config digest) stored in checkpoints;
                resuming with different ones is refused, as are a different
                row count, batch size, seed, steps, model shape, optimizer,
                loss, metrics or class weights, which are always checked.
            **keras1: `nb_epoch`, Keras 1's `epochs`, converted with a
                `Keras1Warning` (see `streamfit.training.keras1`).

        Returns:
            The `History` (also kept in `self.history`), with `data_wait`.

        Raises:
            UserError: a generator without `steps_per_epoch`, a generator that
                runs dry, a batch that does not fit the module, no loss or
                optimizer, or bad arguments; a checkpoint_dir that cannot be
                written, checkpoints with a plain generator, or a checkpoint
                that is damaged or was written for other data or options.
            OptionError: (a UserError) an argument out of range, named as
                `fit` spells it (`validation_split=1.5 must be ...`).
            TrainingInterrupted: (not a UserError) Ctrl-C with `checkpoint_dir`;
                it names the checkpoint to resume from.
        """
        if keras1:
            epochs = self._keras1_epochs(x, epochs, keras1)
        verbose = resolve_verbose(verbose)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight,
                                                                      validation_split)
        batches, steps = batch_set(x, y, sample_weight=sample_weight, batch_size=batch_size,
                                   shuffle=shuffle, seed=self.seed, steps=steps_per_epoch)
        validation = None
        if validation_data is not None:
            validation = validation_batches(validation_data,
                                            batch_size=validation_batch_size or batch_size,
                                            steps=validation_steps)
        class_weights = self._class_weights(class_weight, batches)
        replicas = None
        if distributed.is_distributed():
            replicas = Replicas(self.module, self.device)
            replicas.check_sharded(batches, "x")
            if validation is not None:
                replicas.check_sharded(validation[0], "validation_data")
            verbose = verbose if replicas.is_main else 0
        checkpoint_dir, resume_from, checkpoint_every_steps = checkpoint_arguments(
            callbacks, checkpoint_dir, resume_from, checkpoint_every_steps)  # BackupAndRestore's
        checkpoints, resume = self._checkpointing(
            batches, steps, validation, epochs=epochs, class_weight=class_weight,
            checkpoint_dir=checkpoint_dir, every_steps=checkpoint_every_steps,
            every_minutes=checkpoint_every_minutes, keep=keep_checkpoints,
            resume_from=resume_from, fingerprint=fingerprint, replicas=replicas)
        with contextlib.ExitStack() as stack:
            stack.enter_context(shown_by_callback(callbacks))
            stack.enter_context(self._shapes.watching())
            loader = stack.enter_context(
                self._loader(batches, workers, use_multiprocessing, max_queue_size))
            if validation is not None:
                val_batches, val_steps = validation
                validation = Validation(stack.enter_context(
                    self._loader(val_batches, workers, use_multiprocessing, max_queue_size)),
                    val_steps)
            self.history = run_fit(self, loader, steps, epochs=epochs,
                                   initial_epoch=initial_epoch, callbacks=callbacks,
                                   verbose=verbose, validation=validation,
                                   class_weights=class_weights, checkpoints=checkpoints,
                                   resume=resume, replicas=replicas)
        return self.history

    @staticmethod
    def _keras1_epochs(x: Any, epochs: int, keras1: dict[str, Any]) -> int:
        """`epochs` from `fit(nb_epoch=...)`, as Keras 2 took it; other unknown names refused."""
        unknown = [name for name in keras1 if name != "nb_epoch"]
        if unknown:
            raise TypeError(f"fit() got an unexpected keyword argument {unknown[0]!r}")
        given = {"x": x} if epochs == 1 else {"x": x, "epochs": epochs}
        return from_keras1("fit", given, keras1, (), data_arg="x", stacklevel=4)["epochs"]

    def _checkpointing(self, batches: Any, steps: int, validation: tuple[Any, int] | None, *,
                       epochs: int, class_weight: dict | None,
                       checkpoint_dir: str | os.PathLike | None, every_steps: int | None,
                       every_minutes: float | None, keep: int,
                       resume_from: str | os.PathLike | None, fingerprint: dict | None,
                       replicas: Replicas | None) -> tuple[Checkpointer | None, Checkpoint | None]:
        """Check the checkpoint options, prepare the directory and read the resume point."""
        if checkpoint_dir is None and resume_from is None:
            if every_steps is not None or every_minutes is not None:
                raise UserError("checkpoint_every_steps and checkpoint_every_minutes need "
                                "checkpoint_dir=; give the directory to write checkpoints to")
            return None, None
        if not isinstance(batches, BatchSet):
            argument = "resume_from" if resume_from is not None else "checkpoint_dir"
            raise UserError(
                f"{argument}= needs batches addressed by index, but x is a plain generator, "
                "whose position cannot be saved or restored; wrap the data in a BatchSet "
                "(ArrayBatches, LineBatches, PreparedBatches or a subclass) or pass arrays")
        if validation is not None and not isinstance(validation[0], BatchSet):
            warnings.warn("validation_data is a plain generator, so a resumed run may validate "
                          "on other batches than the interrupted one; give a BatchSet or arrays "
                          "for exact resumption", UserWarning, stacklevel=3)
        checkpoints = None
        if checkpoint_dir is not None:
            checkpoints = Checkpointer(checkpoint_dir, every_steps=every_steps,
                                       every_minutes=every_minutes, keep=keep, replicas=replicas)
        world_size = replicas.world_size if replicas is not None else 1
        current = fingerprint_of(self, batches, steps, validation, class_weight, fingerprint,
                                 world_size)
        resume = None
        if resume_from is not None:
            find = find_shared_resume_point if replicas is not None else find_resume_point
            resume = find(resume_from, checkpoint_dir)
        if resume is not None:
            check_fingerprint(resume, current)
            resume = for_world_size(resume, world_size, announce=replicas is None or replicas.is_main)
            check_epochs(resume, epochs)
        if checkpoints is not None:
            checkpoints.start(steps, current, resume)
        return checkpoints, resume

    def fit_generator(self, *args: Any, **kwargs: Any) -> History:
        """Keras 2's `fit_generator`: `fit` with a generator (or a `BatchSet`) as `x`.

        The positional arguments are Keras 2's, in its order: `generator,
        steps_per_epoch, epochs, verbose, callbacks, validation_data,
        validation_steps, class_weight, max_queue_size, workers,
        use_multiprocessing, shuffle, initial_epoch`; `fit`'s other arguments
        (`checkpoint_dir`, `resume_from`, ...) go by keyword. Each means what
        it means in `fit`: `shuffle` reshuffles arrays only, since a
        generator or batch set owns its order.

        Checkpoints and `resume_from` need a `BatchSet`: a plain generator's
        position cannot be restored, so they raise a `UserError` with one.

        Keras 1's names (`samples_per_epoch`, `nb_epoch`, `nb_val_samples`,
        `max_q_size`, `nb_worker`, `pickle_safe`) are converted with a
        `Keras1Warning` that shows the Keras 2 call; a call using any of them
        is Keras 1 code, so its positional `steps_per_epoch` counts rows
        (`fit_generator(gen, 256, nb_epoch=2)`: 256 samples). Without them a
        positional `steps_per_epoch` (or `validation_steps`) keeps Keras 2's
        meaning, batches, with a warning to pass it by keyword, since Keras 1
        read the same position as rows (see `streamfit.training.keras1`).

        Raises:
            TypeError: an argument `fit_generator` does not take, or one given
                twice (also as its Keras 1 name).
        """
        arguments = _keras2_arguments("fit_generator", _FIT_GENERATOR, FIT_GENERATOR_NAMES,
                                      (self, *args), kwargs)
        return self.fit(arguments.pop("generator"), **arguments)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int = 32, verbose: int | str = 0,
                 sample_weight: Any = None, steps: int | None = None,
                 callbacks: list | None = None, max_queue_size: int = 10, workers: int = 1,
                 use_multiprocessing: bool = False,
                 return_dict: bool = False) -> float | list | dict:
        """Loss and metrics over the data, as Keras' `evaluate`.

        Args:
            x, y, batch_size, sample_weight: as in `fit` (arrays are not shuffled).
            verbose: 0 silent, 1 a progress bar, 2 one line at the end, "auto"
                1 on a terminal or in a notebook and 2 otherwise.
            steps: batches to read; required with a generator.
            callbacks: their `on_test_*` hooks run.
            max_queue_size, workers, use_multiprocessing: as in `fit`.
            return_dict: return `{"loss": ..., "accuracy": ...}`.

        Returns:
            The loss alone when there are no metrics, else a list in
            `metrics_names` order, or the dict. Values are means over rows.
        """
        verbose = resolve_verbose(verbose)
        batches, steps = batch_set(x, y, sample_weight=sample_weight, batch_size=batch_size,
                                   shuffle=False, steps=steps, steps_arg="steps")
        callback_list = CallbackList(callbacks, self, {"steps": steps, "verbose": verbose})
        with self._loader(batches, workers, use_multiprocessing, max_queue_size) as loader, \
                shown_by_callback(callbacks), self._shapes.watching(), \
                Progress(verbose, steps, "evaluate") as progress:
            logs = run_evaluation(self, loader, steps, callback_list, progress)
        return self._result(logs, return_dict)

    def evaluate_generator(self, *args: Any, **kwargs: Any) -> float | list:
        """Keras 2's `evaluate_generator`: `evaluate` with a generator.

        Keras 2's arguments, in its order: `generator, steps, callbacks,
        max_queue_size, workers, use_multiprocessing, verbose`. Keras 1's
        `val_samples` (rows), `max_q_size`, `nb_worker` and `pickle_safe` are
        converted as in `fit_generator`, and so is a positional `steps`.
        """
        arguments = _keras2_arguments("evaluate_generator", _EVALUATE_GENERATOR, PASS_NAMES,
                                      (self, *args), kwargs)
        return self.evaluate(arguments.pop("generator"), **arguments)

    def predict(self, x: Any, batch_size: int = 32, verbose: int | str = 0,
                steps: int | None = None, callbacks: list | None = None,
                max_queue_size: int = 10, workers: int = 1,
                use_multiprocessing: bool = False) -> Any:
        """Outputs for every row, in order, as a numpy array.

        With "sparse_categorical_crossentropy" or "categorical_crossentropy"
        the rows are probabilities `(n, classes)` (the softmax of logits, a
        final `nn.Softmax`'s own output, the `exp` of a `nn.LogSoftmax`'s);
        with "binary_crossentropy" probabilities of class 1 in the output's
        shape (`(n, 1)` for one column: the sigmoid of logits, or a final
        `nn.Sigmoid`'s output); otherwise the module's raw outputs. A module
        returning a dict gives a dict of arrays.

        Args:
            x: arrays (not shuffled), a `BatchSet` (read as epoch 0) or a
                generator of `x` or `(x, ...)` batches.
            batch_size: rows per batch, with arrays.
            verbose: 0 silent, 1 a progress bar, 2 one line at the end, "auto"
                1 on a terminal or in a notebook and 2 otherwise.
            steps: batches to read; required with a generator.
            callbacks: their `on_predict_*` hooks run.
            max_queue_size, workers, use_multiprocessing: as in `fit`.
        """
        verbose = resolve_verbose(verbose)
        batches, steps = batch_set(x, batch_size=batch_size, shuffle=False, steps=steps,
                                   steps_arg="steps")
        callback_list = CallbackList(callbacks, self, {"steps": steps, "verbose": verbose})
        with self._loader(batches, workers, use_multiprocessing, max_queue_size) as loader, \
                shown_by_callback(callbacks), self._shapes.watching(), \
                Progress(verbose, steps, "predict") as progress:
            return run_prediction(self, loader, steps, callback_list, progress)

    def predict_generator(self, *args: Any, **kwargs: Any) -> Any:
        """Keras 2's `predict_generator`: `predict` with a generator.

        Its arguments, and Keras 1's, are `evaluate_generator`'s.
        """
        arguments = _keras2_arguments("predict_generator", _PREDICT_GENERATOR, PASS_NAMES,
                                      (self, *args), kwargs)
        return self.predict(arguments.pop("generator"), **arguments)

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                       class_weight: dict | None = None,
                       return_dict: bool = False) -> float | list | dict:
        """One optimizer step on one batch.

        Dropout draws from torch's global generator here: a lone batch has no
        (epoch, step) to seed from.

        Returns:
            The batch's loss (and metrics) computed before the step, shaped as
            `evaluate`'s result. Values are this batch's, not running means.
        """
        item = (x, y, sample_weight)
        values, _ = train_step(self, item, "the train_on_batch batch", self._class_weights(class_weight))
        return self._result({name: float(value) for name, value in values.items()}, return_dict)

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                      class_weight: dict | None = None,
                      return_dict: bool = False) -> float | list | dict:
        """Loss (and metrics) of one batch in evaluation mode, shaped as `evaluate`'s result.

        `class_weight` is accepted, beyond Keras, so that the weighted loss of a
        batch can be inspected without a step.
        """
        item = (x, y, sample_weight)
        values, _ = test_step(self, item, "the test_on_batch batch", self._class_weights(class_weight))
        return self._result({name: float(value) for name, value in values.items()}, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs of one batch, as `predict` returns them."""
        return predict_step(self, (x,))

    def summary(self, x: Any = None, line_length: int | None = None,
                positions: list[float] | None = None,
                print_fn: Callable[[str], Any] | None = None) -> None:
        """Print the module's layers, output shapes and parameter counts, as Keras 3's `summary`.

        The output shapes are those of the first batch the model ran (in
        `fit`, `evaluate`, `predict`), with the batch dimension as `None`;
        before any, they read `?` unless `x` is given. Parameter counts are
        the module's (total, trainable, non-trainable: frozen parameters and
        floating-point buffers such as a BatchNorm's running statistics).

        Args:
            x: a batch of inputs (arrays, a dict by `forward` argument, a tuple
                by position) to run through the module once, in evaluation
                mode, to record the output shapes now.
            line_length: the table's width (default Keras': 88, or the
                terminal's width less 4 when narrower).
            positions: where the columns end, as fractions of `line_length`
                (default `[0.45, 0.80, 1.0]`).
            print_fn: called once with the whole text instead of printing it
                to stdout (as Keras 3 does).

        Raises:
            OptionError: a `line_length` too narrow for the columns.
        """
        if x is not None:
            self._shapes.shapes = None
            with self._shapes.watching():
                predict_step(self, (x,))
        text = summary_text(self.module, self._shapes.shapes, line_length,
                            tuple(positions) if positions is not None else None)
        if print_fn is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            print_fn(text)

    def tensor_state_dict(self) -> dict[str, Any]:
        """The model's part of a checkpoint: `{"module": weights on the CPU, "optimizer": state}`.

        The module's weights alone are `model.module.state_dict()`; see
        `streamfit.training.stateful` for the checkpoint's other parts.
        """
        return {"module": {name: value.detach().cpu() for name, value in self.module.state_dict().items()},
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None}

    def load_tensor_state_dict(self, tensors: dict[str, Any]) -> None:
        """Load what `tensor_state_dict` returned into the module and the optimizer.

        Raises:
            UserError: weights or optimizer state that do not fit this model.
        """
        try:
            self.module.load_state_dict(tensors["module"])
            if self.optimizer is not None and tensors["optimizer"] is not None:
                self.optimizer.load_state_dict(tensors["optimizer"])
        except (RuntimeError, ValueError) as error:
            first = str(error).strip().splitlines()[0]
            raise UserError(f"its weights or optimizer state do not fit this model ({first}); "
                            "build the model and optimizer as the checkpointed run did") from None

    def save(self, path: str | os.PathLike) -> None:
        """Save to the directory `path` (see `streamfit.training.saving`): no pickle."""
        save_model(self, path)


_FIT_GENERATOR = _generator_signature(Model.fit)
# What help() and inspect show: the arguments it takes, not (*args, **kwargs).
Model.fit_generator.__signature__ = _FIT_GENERATOR
_EVALUATE_GENERATOR = _pass_signature(Model.evaluate)
_PREDICT_GENERATOR = _pass_signature(Model.predict)
Model.evaluate_generator.__signature__ = _EVALUATE_GENERATOR
Model.predict_generator.__signature__ = _PREDICT_GENERATOR


def load_model(path: str | os.PathLike, module: torch.nn.Module | None = None,
               device: str | torch.device = "auto") -> Model:
    """Load a model that `Model.save` wrote.

    Args:
        path: the directory.
        module: a module built like the saved one, to load the weights into;
            None rebuilds it from its class registered with
            `streamfit.register_module` and its saved config.
        device: where the loaded model runs.

    Returns:
        A `Model` with the saved weights, loss and metrics and a fresh optimizer
        (those given as callables were not saved: call `compile`).

    Raises:
        UserError: `path` is not a saved model, the module cannot be rebuilt
            (pass `module=`), or the weights do not fit `module`.
    """
    module, meta = read_model(path, module)
    return Model(module, loss=meta["loss"], optimizer=meta["optimizer"], metrics=meta["metrics"],
                 device=device, seed=meta["seed"])
