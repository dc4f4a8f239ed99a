"""The training, evaluation and prediction loops, and the steps they run.

All the loop's position lives in `LoopState` (`streamfit.training.state`:
epoch, step, callbacks, the epoch's running means), so that resuming in the
middle of an epoch is a matter of restoring it: batches are addressed by
(epoch, step) and dropout is seeded from (seed, epoch, step), never from
what ran before.

With `Replicas` (several processes, `streamfit.training.replicas`) each rank
runs this loop on its own rows; the steps go through the DDP module, and the
epoch's logs, validation logs and stop decisions are agreed over ranks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
import torch

from streamfit.errors import OptionError, UserError
from streamfit.loader import BatchLoader
from streamfit.training.callbacks import CallbackList, History
from streamfit.training.checkpoint import Checkpoint, Checkpointer
from streamfit.training.losses import BINARY, MULTICLASS, OutputRecorder, detect_output
from streamfit.training.metrics import RunningMeans
from streamfit.training.progress import Progress
from streamfit.training.replicas import Replicas
from streamfit.training.state import LoopState
from streamfit.training.tensors import (
    call_module,
    inputs_of,
    num_rows,
    select_output,
    split_batch,
    to_tensors,
)

if TYPE_CHECKING:
    from streamfit.training.model import Model


class ClassWeights:
    """`{class: weight}` as a lookup table on the device; unlisted classes weigh 1.

    Or, made by `ClassWeights.per_label`, weights for multi-hot targets: each
    label's positive and negative values weigh their own, value by value
    (the loss of each (row, label) pair is weighted before the mean over the
    labels, so a rare label's positives count as much as its negatives).

    Raises:
        OptionError: keys that are not non-negative integers, or weights that
            are not numbers.
    """

    def __init__(self, mapping: dict, device: torch.device):
        try:
            pairs = {int(key): float(value) for key, value in mapping.items()
                     if int(key) == key and int(key) >= 0}
        except (TypeError, ValueError):
            pairs = {}
        if len(pairs) != len(mapping) or not pairs:
            raise OptionError("class_weight", mapping, "must map class ids (integers from 0) "
                              "to numbers, e.g. {0: 1.0, 1: 5.0}, or be 'balanced'")
        table = torch.ones(max(pairs) + 1, dtype=torch.float32)
        for key, value in pairs.items():
            table[key] = value
        self.table = table.to(device)
        self.label_tables: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def per_label(cls, positive: np.ndarray, negative: np.ndarray,
                  device: torch.device) -> ClassWeights:
        """Weights for multi-hot targets `(batch, labels)`: label l's 1s and 0s weigh their own.

        Args:
            positive: `(labels,)` weight of each label's positive values (1s).
            negative: `(labels,)` weight of each label's negative values (0s).
            device: where the tables live.

        Raises:
            OptionError: tables of other shapes, or weights that are not
                finite non-negative numbers.
        """
        positive, negative = (np.asarray(table, dtype=np.float64) for table in (positive, negative))
        if positive.ndim != 1 or positive.shape != negative.shape or not len(positive) or not (
                np.isfinite(positive).all() and np.isfinite(negative).all()
                and (positive >= 0).all() and (negative >= 0).all()):
            raise OptionError("class_weight", (positive.tolist(), negative.tolist()),
                              "must give each label a finite weight >= 0 for its positive and "
                              "its negative values, two tables of one weight per label")
        weights = cls.__new__(cls)
        weights.table = None
        weights.label_tables = tuple(torch.as_tensor(table, dtype=torch.float32).to(device)
                                     for table in (positive, negative))
        return weights

    def losses(self, loss: Any, output: torch.Tensor,
               target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch's loss values, and the class weights that multiply them.

        Args:
            loss: the model's `Loss`.
            output, target: the module's output and the batch's targets.

        Returns:
            `(values, weights)`: `loss.fn`'s values and each one's class
            weight (see `__call__`); per label, the values already weighted
            pair by pair and averaged over the labels, and None.

        Raises:
            UserError: per-label weights with a loss that is not a built-in
                binary one, or outputs and targets not of one shape `(..., labels)`.
        """
        if self.label_tables is None:
            values = loss.fn(output, target)
            return values, self(target, loss.kind, values.shape if values.dim() else None)
        positive, negative = self.label_tables
        if loss.kind != BINARY or loss.name is None:
            raise UserError(f"class_weight per label (multi-hot targets) weighs each label's "
                            f"binary loss, but the loss is {loss.name or 'a callable'}; use "
                            "binary_crossentropy, or pass class_weight=None")
        if output.dim() < 2 or output.shape[-1] != len(positive) \
                or target.numel() != output.numel():
            raise UserError(f"class_weight per label has {len(positive)} labels, but the outputs "
                            f"have shape {tuple(output.shape)} and the targets "
                            f"{tuple(target.shape)}; give multi-hot targets of the output's shape "
                            "(batch, labels)")
        target = target.reshape(output.shape)
        # A last axis of one: the built-in losses' mean over it is each pair's own loss.
        pairs = loss.fn(output.unsqueeze(-1), target.unsqueeze(-1))
        weights = torch.where(target > 0.5, positive, negative)
        return (pairs * weights).mean(dim=-1), None

    def __call__(self, target: torch.Tensor, kind: str | None,
                 shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """The weight of each loss value's class, read from its target (`{class: weight}` only).

        Args:
            target: the batch's targets: class ids, 0/1, or one-hot rows.
            kind: the loss's kind (one-hot rows are read for multiclass losses).
            shape: the shape of the loss values (one per sample, or per token);
                by default one per sample.
        """
        shape = tuple(shape) if shape is not None else (target.shape[0],)
        if kind == MULTICLASS and target.dim() >= 2 and target.shape[-1] > 1 \
                and tuple(target.shape[:-1]) == shape:
            ids = target.argmax(dim=-1)
        elif target.numel() == int(np.prod(shape)) and target.shape[:1] == shape[:1]:
            ids = target.reshape(shape).round().long()
        else:
            raise UserError(
                f"class_weight needs one class per loss value (shape {shape}), but targets have "
                f"shape {tuple(target.shape)}; use sample_weight instead")
        size = self.table.shape[0]
        inside = (ids >= 0) & (ids < size)
        return torch.where(inside, self.table[ids.clamp(0, size - 1)], 1.0)


def _labels_of(batches: Any) -> np.ndarray:
    """Every training label of a batch set that holds them, or a UserError."""
    from streamfit.batches.arrays import ArrayBatches  # noqa: PLC0415 (the batches layer imports late)
    from streamfit.batches.prepared import PreparedBatches  # noqa: PLC0415

    y = None
    if isinstance(batches, ArrayBatches):
        y = batches.y
        if isinstance(y, dict) and len(y) == 1:
            y = next(iter(y.values()))
    elif isinstance(batches, PreparedBatches):
        # All rows of the split: every rank computes the same weights.
        if batches.multi_label:
            return batches.split.label_matrix()  # sparse multi-hot: weighed per label
        y = batches.split.labels
    if y is None or isinstance(y, dict):
        what = "a single batch" if batches is None else f"a {type(batches).__name__}"
        raise UserError(
            f"class_weight='balanced' needs the labels before training, but x is {what}, "
            "whose labels are only seen batch by batch; pass a dict {class id: weight} instead "
            "(sklearn.utils.class_weight.compute_class_weight computes the balanced one)")
    return np.asarray(y.toarray() if hasattr(y, "toarray") else y)


def balanced_label_weights(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's "balanced" for each label as a binary problem: `n / (2 * count)`.

    Label l's positive values weigh `n / (2 * positives_l)` and its negative
    ones `n / (2 * negatives_l)`, for n rows: what `compute_class_weight(
    "balanced")` gives each label's 0/1 column. A label on every row (or on
    none) is a problem of one class, whose values weigh `n / n = 1`; the
    missing side, which no row has, weighs 1 too.

    Args:
        labels: multi-hot rows `(n, labels)`, a scipy sparse matrix or an array.

    Returns:
        `(positive, negative)`: float64 `(labels,)` each.

    Raises:
        UserError: no rows, or values other than 0 and 1.
    """
    matrix = labels.tocsr() if hasattr(labels, "tocsr") else None
    labels = labels if matrix is not None else np.asarray(labels)
    values = matrix.data if matrix is not None else labels
    if len(labels.shape) != 2 or labels.shape[0] == 0 or not np.isin(values, (0, 1)).all():
        raise UserError("class_weight='balanced' per label needs multi-hot rows (rows, labels) "
                        "of 0 and 1; pass a dict {class id: weight} for other targets")
    rows = labels.shape[0]
    positives = (np.asarray((matrix != 0).sum(axis=0)).ravel() if matrix is not None
                 else (values != 0).sum(axis=0)).astype(np.float64)
    negatives = rows - positives
    sides = (positives > 0).astype(np.float64) + (negatives > 0)
    with np.errstate(divide="ignore"):
        positive = np.where(positives > 0, rows / (sides * positives), 1.0)
        negative = np.where(negatives > 0, rows / (sides * negatives), 1.0)
    return positive, negative


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """Keras' and scikit-learn's "balanced" weights: `n_samples / (n_classes * count)`.

    Args:
        labels: class ids `(n,)` (or `(n, 1)`, or per token `(n, maxlen)`),
            or one-hot rows `(n, classes)`.

    Raises:
        UserError: labels that are not whole numbers from 0.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1 and np.isin(labels, (0, 1)).all() \
            and (labels.sum(axis=1) == 1).all():
        ids = labels.argmax(axis=1)
    else:
        ids = labels.reshape(-1)
    if ids.size == 0 or ids.dtype.kind not in "iub" and not (np.isfinite(ids).all()
                                                             and (ids == np.round(ids)).all()):
        raise UserError("class_weight='balanced' needs labels that are class ids (whole numbers "
                        "from 0) or one-hot rows; pass a dict {class id: weight} for other targets")
    ids = ids.astype(np.int64)
    if (ids < 0).any():
        raise UserError("class_weight='balanced' found negative labels; class ids start at 0")
    classes, counts = np.unique(ids, return_counts=True)
    return {int(c): float(ids.size / (len(classes) * n)) for c, n in zip(classes, counts, strict=True)}


def class_weights_for(class_weight: dict | str | None, batches: Any,
                      device: torch.device) -> ClassWeights | None:
    """The `ClassWeights` of `fit`'s `class_weight`: None or `{}` is none, as in Keras.

    Args:
        class_weight: `{class id: weight}`, `"balanced"`, or None. "balanced"
            on a multi-label `PreparedBatches` weighs each label's positive
            and negative values (`balanced_label_weights`).
        batches: the training batch set (for "balanced"), or None.
        device: where the table lives.

    Raises:
        OptionError: a string other than "balanced", or a bad dict.
        UserError: "balanced" with data whose labels are not known up front.
    """
    if class_weight is None or (isinstance(class_weight, dict) and not class_weight):
        return None
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise OptionError("class_weight", class_weight, "must be 'balanced' or a dict "
                              "{class id: weight}")
        labels = _labels_of(batches)
        if scipy.sparse.issparse(labels):
            return ClassWeights.per_label(*balanced_label_weights(labels), device)
        class_weight = balanced_class_weights(labels)
    if not isinstance(class_weight, dict):
        raise OptionError("class_weight", class_weight, "must be a dict {class id: weight} or "
                          "'balanced'")
    return ClassWeights(class_weight, device)


def _sample_weights(sample_weight: Any, rows: int) -> torch.Tensor | None:
    """Per-sample weights `(rows,)`, or per-token ones `(rows, maxlen)` as they are."""
    if isinstance(sample_weight, dict):
        if len(sample_weight) != 1:
            raise UserError(
                f"sample_weight has entries {sorted(sample_weight)}; give one per sample "
                "for the single output")
        sample_weight = next(iter(sample_weight.values()))
    if sample_weight is None:
        return None
    weights = sample_weight.float()
    if weights.dim() != 2 or weights.shape[1] == 1:
        weights = weights.reshape(-1)
    if weights.shape[0] != rows:
        raise UserError(
            f"sample_weight has {weights.shape[0]} values for a batch of {rows} rows; "
            "give one weight per sample (or, for per-token targets, one per token)")
    return weights


def _per_value(weights: torch.Tensor | None, losses: torch.Tensor) -> torch.Tensor | None:
    """Weights that multiply `losses` value by value: `(batch,)` ones spread over each sample.

    Raises:
        UserError: a scalar loss (weights cannot apply), or weights of another shape.
    """
    if weights is None:
        return None
    if losses.dim() == 0:
        raise UserError(
            "the loss returned one number for the batch, so sample_weight and "
            "class_weight cannot apply; return per-sample losses (reduction='none')")
    if weights.shape == losses.shape:
        return weights
    if weights.dim() != 1 or weights.shape[0] != losses.shape[0]:
        raise UserError(
            f"sample_weight has shape {tuple(weights.shape)}, but the loss has values of shape "
            f"{tuple(losses.shape)}; give one weight per sample ({losses.shape[0]},) or one "
            "per loss value (per token: (batch, maxlen))")
    return weights.reshape(-1, *[1] * (losses.dim() - 1))


def _reduce(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Keras' sum_over_batch_size: `sum(weight * loss) / number of loss values`.

    Weights `(batch,)` apply to every value of their sample; weights of the
    losses' shape (`(batch, maxlen)`: a padding mask) value by value.
    """
    weights = _per_value(weights, losses)
    if weights is None:
        return losses.mean() if losses.dim() else losses
    return (losses * weights).sum() / losses.numel()


def _empty(where: str) -> UserError:
    return UserError(
        f"{where} is empty (0 rows); every batch needs at least one row. A generator that "
        "draws a batch position with random.randint(0, n) can draw n, one past the last batch "
        "(randint includes its upper bound): use random.randint(0, n - 1) or random.randrange(n)")


def _forward(model: Model, module: torch.nn.Module, x: Any, y: Any,
             where: str) -> tuple[torch.Tensor, Any, Any]:
    """The module's output (and, when given, the selected target) for one batch.

    On the first batch of a loss that reads logits or probabilities, the
    forward pass records which layer produced the output, and the loss
    settles what the module returns (`losses.detect_output`).
    """
    loss = model.loss
    if loss is None or loss.settled:
        output = call_module(module, x)
        return (*select_output(output, y), output) if y is not None else (None, None, output)
    with OutputRecorder(model.module) as recorder:
        raw = call_module(module, x)
    selected = select_output(raw, y) if y is not None else (_single(raw), None)
    inner = recorder.returned if recorder.returned is not None else raw
    inner = select_output(inner, y)[0] if y is not None else _single(inner)
    if inner is not None:
        model.loss = detect_output(loss, inner, recorder.producer(inner), where)
    return (*selected, raw)


def _single(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict) and len(output) == 1:
        return next(iter(output.values()))
    return None


def _loss_and_values(model: Model, item: Any, where: str, class_weights: ClassWeights | None,
                     module: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict, int]:
    """Forward one batch; return the weighted loss, the logged values and the rows.

    `module` is the one to call: the model's by default, its DDP wrapper in
    data-parallel training.
    """
    if model.loss is None:
        raise UserError("this model has no loss; call model.compile(loss=...) before training or evaluating")
    x, y, sample_weight = split_batch(item, where)
    rows = num_rows(x)
    if rows == 0:
        raise _empty(where)
    device = model.device
    x = to_tensors(x, device, keep_sparse=model.accepts_sparse, where=f"x of {where}")
    y = to_tensors(y, device, where=f"y of {where}")
    weights = _sample_weights(to_tensors(sample_weight, device, where=f"sample_weight of {where}"), rows)
    output, target, _ = _forward(model, module or model.module, x, y, where)
    loss_fn = model.loss
    if class_weights is None:
        values = loss_fn.fn(output, target)
    else:
        values, by_class = class_weights.losses(loss_fn, output, target)
        if by_class is not None:
            by_class = _per_value(by_class, values)
            weights = by_class if weights is None else _per_value(weights, values) * by_class
    loss = _reduce(values, weights)
    if loss_fn.weight != 1.0:
        loss = loss * loss_fn.weight
    with torch.no_grad():
        logged = {"loss": loss.detach()}
        detached = output.detach()
        probabilities = None
        for metric in model.metrics:
            if metric.reads_probabilities and probabilities is None:
                probabilities = loss_fn.probabilities(detached)
            logged[metric.name] = metric.fn(probabilities if metric.reads_probabilities else detached,
                                            target)
    return loss, logged, rows


def train_step(model: Model, item: Any, where: str, class_weights: ClassWeights | None = None,
               replicas: Replicas | None = None) -> tuple[dict, int]:
    """One optimizer step on a batch; returns the batch's values (before the step) and rows.

    With `replicas`, the step runs through the DDP module, whose backward
    averages the gradients of all ranks' batches.
    """
    if model.optimizer is None:
        raise UserError("this model has no optimizer; call model.compile(optimizer='adam') before training")
    model.module.train()
    model.optimizer.zero_grad(set_to_none=True)
    module = replicas.module if replicas is not None else None
    loss, values, rows = _loss_and_values(model, item, where, class_weights, module)
    if replicas is not None:
        loss = loss * replicas.share(rows)
    loss.backward()
    model.optimizer.step()
    return values, rows


def test_step(model: Model, item: Any, where: str,
              class_weights: ClassWeights | None = None) -> tuple[dict, int]:
    """The values of one batch in evaluation mode, without gradients."""
    model.module.eval()
    with torch.no_grad():
        _, values, rows = _loss_and_values(model, item, where, class_weights)
    return values, rows


def predict_step(model: Model, item: Any) -> Any:
    """Outputs of one batch (probabilities for the built-in classification losses) as numpy."""
    model.module.eval()
    x = inputs_of(item)
    if num_rows(x) == 0:
        raise _empty("a prediction batch")
    x = to_tensors(x, model.device, keep_sparse=model.accepts_sparse, where="x of a prediction batch")
    with torch.no_grad():
        output = _forward(model, model.module, x, None, "the first prediction batch")[2]

    def finish(tensor: torch.Tensor) -> np.ndarray:
        if model.loss is not None:
            tensor = model.loss.probabilities(tensor)
        return tensor.float().cpu().numpy()

    if isinstance(output, dict):
        return {name: finish(tensor) for name, tensor in output.items()}
    return finish(output)


def seed_step(seed: int, epoch: int, step: int, device: torch.device, rank: int = 0) -> None:
    """Seed torch for training step (epoch, step) of `rank`: dropout is a function of position.

    Seeds the device's generator directly: `torch.manual_seed` also queues
    every CUDA device's seeding and records a stack trace, which costs more
    than a small model's step. Ranks other than 0 draw their own masks (rank
    0 draws those of a single process).
    """
    entropy = (seed, epoch, step) if rank == 0 else (seed, epoch, step, rank)
    step_seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])
    torch.default_generator.manual_seed(step_seed)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.default_generators[index].manual_seed(step_seed)


@dataclass
class Validation:
    """Validation batches for `fit`: a loader over a batch set, `steps` per pass."""

    loader: BatchLoader
    steps: int


def _batch_logs(running: RunningMeans, rows: int, wanted: bool) -> dict:
    return {**running.result(), "size": rows} if wanted else {}


def _rng_scope(device: torch.device) -> contextlib.AbstractContextManager:
    """Seed torch inside `fit` without changing the caller's random state."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


class _EpochClock:
    """Adds the epoch's elapsed and data-wait seconds to the loop state when ticked."""

    def __init__(self, state: LoopState, loader: BatchLoader):
        self.state, self.loader = state, loader
        self.mark, self.waited = time.perf_counter(), loader.wait_seconds

    def tick(self) -> None:
        now, waited = time.perf_counter(), self.loader.wait_seconds
        self.state.seconds += now - self.mark
        self.state.wait_seconds += waited - self.waited
        self.mark, self.waited = now, waited


def _after_step(model: Model, state: LoopState, checkpoints: Checkpointer | None,
                replicas: Replicas | None) -> tuple[bool, bool, bool]:
    """Whether to stop, to checkpoint, and to end on Ctrl-C after the checkpoint.

    With `replicas` every rank decides alike: all stop when a callback on any
    rank set `stop_training`, and all save (rank 0 writes) and end when any
    rank's checkpointer is due or was interrupted, so no rank waits for one
    that left. A Ctrl-C that comes later counts at the next step.
    """
    stop = model.stop_training
    due = checkpoints is not None and checkpoints.due(state)
    interrupted = checkpoints is not None and checkpoints.interrupt_requested
    if replicas is not None:
        stop, due, interrupted = replicas.any_rank(stop, due, interrupted)
        model.stop_training = stop
        if interrupted:
            checkpoints.request_interrupt()
    return stop, due, interrupted


def _interrupted(checkpoints: Checkpointer, replicas: Replicas | None) -> bool:
    """Whether Ctrl-C asked to stop, on any rank (every rank gets the same answer)."""
    interrupted = checkpoints.interrupt_requested
    if replicas is not None:
        interrupted = replicas.any_rank(interrupted)[0]
        if interrupted:
            checkpoints.request_interrupt()
    return interrupted


def run_epoch(model: Model, state: LoopState, loader: BatchLoader, steps: int,
              class_weights: ClassWeights | None, progress: Progress,
              checkpoints: Checkpointer | None = None, skip: bool = False,
              replicas: Replicas | None = None) -> tuple[dict, float]:
    """Train from `state.step` to the end of `state.epoch` (or until `stop_training`).

    With `checkpoints`, a checkpoint is written after each step where one is
    due, and Ctrl-C ends the epoch there (`TrainingInterrupted`). `skip`
    trains no more steps (a run resumed after `stop_training` was set).

    Returns:
        The epoch's logs (loss and metrics) and its data-wait fraction; with
        `replicas`, over all ranks' rows (the data wait: the ranks' mean).
    """
    callbacks = state.callbacks
    wanted = callbacks.wants_batch_logs("train")
    clock = _EpochClock(state, loader)
    batches: Iterator = loader.iterate(state.epoch, steps, start=steps if skip else state.step)
    with contextlib.closing(batches):
        for item in batches:
            step = state.step
            seed_step(model.seed, state.epoch, step, model.device,
                      replicas.rank if replicas is not None else 0)
            callbacks.on_train_batch_begin(step)
            with state.half_done():
                values, rows = train_step(model, item, f"batch {step} of epoch {state.epoch}",
                                          class_weights, replicas)
                state.running.update(values, rows)
                state.step += 1
            callbacks.on_train_batch_end(step, _batch_logs(state.running, rows, wanted))
            progress.update(rows, state.running.result)
            stop, due, interrupted = _after_step(model, state, checkpoints, replicas)
            if stop:
                break
            if due:
                clock.tick()
                checkpoints.save(state)
                if interrupted:
                    raise checkpoints.interrupted(state)
    clock.tick()
    data_wait = min(1.0, state.wait_seconds / state.seconds) if state.seconds > 0 else 0.0
    if replicas is not None:
        return replicas.total(state.running).result(), replicas.mean(data_wait)
    return state.running.result(), data_wait


def run_fit(model: Model, loader: BatchLoader, steps: int, *, epochs: int, initial_epoch: int,
            callbacks: list | None, verbose: int, validation: Validation | None,
            class_weights: ClassWeights | None, checkpoints: Checkpointer | None = None,
            resume: Checkpoint | None = None, replicas: Replicas | None = None) -> History:
    """Run epochs `initial_epoch .. epochs - 1`, validating after each; return the history.

    Args:
        checkpoints: writes checkpoints (every N steps or minutes, at each
            epoch end, and on Ctrl-C, which then raises `TrainingInterrupted`).
        resume: a checkpoint to continue from instead of `initial_epoch`.
        replicas: this rank's part when several processes train together.
    """
    history = History()
    state = LoopState(
        model=model, epoch=initial_epoch, history=history,
        callbacks=CallbackList([*(callbacks or []), history], model,
                               {"epochs": epochs, "steps": steps, "verbose": verbose}))
    model.stop_training = False
    guard = checkpoints.catching_interrupts() if checkpoints is not None else contextlib.nullcontext()
    with _rng_scope(model.device), guard:
        try:
            _train(model, state, loader, steps, epochs, verbose, validation, class_weights,
                   checkpoints, resume, replicas)
        except KeyboardInterrupt:
            if checkpoints is None:
                raise
            # Ranks are not at an agreed point here: saving would wait for the others.
            raise checkpoints.interrupted(state, save=replicas is None) from None
    return history


def _train(model: Model, state: LoopState, loader: BatchLoader, steps: int, epochs: int,
           verbose: int, validation: Validation | None, class_weights: ClassWeights | None,
           checkpoints: Checkpointer | None, resume: Checkpoint | None,
           replicas: Replicas | None) -> None:
    callbacks = state.callbacks
    with state.half_done():
        if resume is not None:
            resume.restore(model)  # before on_train_begin, which may read the weights
        callbacks.on_train_begin()
        if resume is not None:
            resume.restore(state)
            if replicas is not None and not replicas.is_main:
                # The checkpoint holds the sums over all ranks: rank 0 carries them on.
                state.running = state.running.zeroed()
    stopped = resume is not None and model.stop_training
    # A run that had stopped (early stopping) at an epoch's end is over; one
    # stopped within an epoch only finishes that epoch.
    while state.epoch < epochs and not (stopped and not state.epoch_begun):
        if not state.epoch_begun:
            with state.half_done():
                callbacks.on_epoch_begin(state.epoch)
                state.epoch_begun = True
        with Progress(verbose, steps, f"Epoch {state.epoch + 1}/{epochs}", state.step) as progress:
            logs, data_wait = run_epoch(model, state, loader, steps, class_weights, progress,
                                        checkpoints, skip=stopped, replicas=replicas)
            if validation is not None:
                val_logs = run_evaluation(model, validation.loader, validation.steps,
                                          callbacks, Progress(0, 0, ""), replicas)
                logs.update((f"val_{key}", value) for key, value in val_logs.items())
            with state.half_done():
                callbacks.on_epoch_end(state.epoch, logs)
                state.history.data_wait.append(data_wait)
                progress.close(logs, data_wait)
                state.logs = logs
                state.next_epoch()
        if checkpoints is not None:
            checkpoints.save(state)
            if _interrupted(checkpoints, replicas):
                raise checkpoints.interrupted(state)
        if model.stop_training:
            break
    with state.half_done():
        callbacks.on_train_end(state.logs)


def run_evaluation(model: Model, loader: BatchLoader, steps: int, callbacks: CallbackList,
                   progress: Progress, replicas: Replicas | None = None) -> dict:
    """One pass over `steps` validation batches (epoch 0 of a batch set); return the means.

    With `replicas` each rank reads its shard and the means are over all
    ranks' rows: the single process's means over the same rows.
    """
    running = RunningMeans()
    wanted = callbacks.wants_batch_logs("test")
    callbacks.on_test_begin()
    batches: Iterator = loader.iterate(0, steps)
    with contextlib.closing(batches):
        for step, item in enumerate(batches):
            callbacks.on_test_batch_begin(step)
            values, rows = test_step(model, item, f"batch {step} of the evaluation data")
            running.update(values, rows)
            callbacks.on_test_batch_end(step, _batch_logs(running, rows, wanted))
            progress.update(rows, running.result)
    logs = (replicas.total(running) if replicas is not None else running).result()
    callbacks.on_test_end(logs)
    progress.close(logs)
    return logs


def run_prediction(model: Model, loader: BatchLoader, steps: int, callbacks: CallbackList,
                   progress: Progress) -> Any:
    """Outputs of `steps` batches (epoch 0 of a batch set), concatenated in order."""
    outputs = []
    callbacks.on_predict_begin()
    batches: Iterator = loader.iterate(0, steps)
    with contextlib.closing(batches):
        for step, item in enumerate(batches):
            callbacks.on_predict_batch_begin(step)
            output = predict_step(model, item)
            outputs.append(output)
            callbacks.on_predict_batch_end(step, {"outputs": output})
            progress.update(num_rows(inputs_of(item)), dict)
    callbacks.on_predict_end()
    progress.close()
    if isinstance(outputs[0], dict):
        return {name: np.concatenate([out[name] for out in outputs]) for name in outputs[0]}
    return np.concatenate(outputs)
