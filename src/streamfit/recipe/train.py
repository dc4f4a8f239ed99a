"""The default recipe: raw files to a saved bundle, the guide's way.

`train_text_classifier` runs these steps, each a function below:

1. `_share_of_batch`: the ranks can share the global batch evenly;
2. `_prepare`: the data prepared (cached), by rank 0 under torchrun;
3. `resolve_model_kind`: the model kind, "auto" by the guide's rule;
4. `_extractor_and_module`: features fitted on the training counts, and the
   module, seeded;
5. `_compile`: the `Model`: loss, Adam, device;
6. `_batch_sets`: the training and validation batch sets;
7. `_fit`: `Model.fit` with early stopping, class weights and checkpoints;
8. `_tune_thresholds`: a multi-label model's decision thresholds, on the
   validation rows;
9. `_save`: the bundle, and the run's timings.

Multi-label data (`TrainConfig.multi_label`, or a `SourceSpec` that says so):
the module ends in one logit per label, trained with binary cross-entropy on
the multi-hot targets (`class_weight="balanced"`: each label's positives and
negatives weighed as one binary problem, `loop.balanced_label_weights`;
without it each label's logit starts at the label's prior log-odds), and
the threshold that turns probabilities into labels is the one maximising
micro-F1 on the validation rows (each label's own with
`threshold_per_label`; `recipe.thresholds.tune_thresholds`), 0.5 without
validation rows. The bundle keeps it.

`streamfit train` is a thin shell over `train_text_classifier`. Under
torchrun every rank runs the recipe (see `streamfit.distributed`): rank 0
prepares the data and writes the bundle, each rank trains on its share of
every global batch.
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from streamfit import distributed
from streamfit.batches.prepared import PreparedBatches
from streamfit.errors import OptionError, UserError
from streamfit.features import FeatureExtractor, HashedNgrams, NgramTfidf, Sequences
from streamfit.models import auto_model, build_model
from streamfit.prepare.background import PrepareProcess
from streamfit.prepare.cache import CacheDamaged
from streamfit.prepare.pipeline import PreparedDataset, open_prepared
from streamfit.prepare.tokenize import Tokenizer
from streamfit.recipe.bundle import check_output_dir, save_bundle
from streamfit.recipe.config import TrainConfig, label_sources, start_prepare
from streamfit.recipe.evaluation import MultiLabelCounts
from streamfit.recipe.resume import check_resume, resume_refused, run_options
from streamfit.recipe.thresholds import DEFAULT_THRESHOLD, tune_thresholds
from streamfit.sources import SourceSpec
from streamfit.training import History, Model
from streamfit.training.callbacks import EarlyStopping
from streamfit.training.checkpoint.file import remove_checkpoints
from streamfit.training.checkpoint.fingerprint import FingerprintMismatch
from streamfit.training.tensors import resolve_device, sparse_model_threads, torch_threads

#: The fewest rows of a validation batch: validation has no backward pass, so
#: larger batches cost little memory and save steps.
_MIN_VALIDATION_BATCH = 512


@dataclass
class TrainResult:
    """What `train_text_classifier` made.

    Attributes:
        bundle: the bundle directory (`config.output`).
        dataset: the prepared dataset it trained on.
        history: `History.history`: each epoch's loss and metrics.
        model_kind: the model kind trained ("auto" resolved).
        seconds: the time of each step: prepare, train, save, total.
        replaced: None, or the streamfit bundle that was in `bundle` before
            and was replaced (`mlp, 300 training rows, written 2026-12-02 02:40`).
        thresholds: a multi-label model's decision thresholds (`Thresholds`),
            None for a single-label one.
    """

    bundle: Path
    dataset: PreparedDataset
    history: dict
    model_kind: str
    seconds: dict
    replaced: str | None = None
    thresholds: Thresholds | None = None


@dataclass
class Thresholds:
    """A multi-label model's decision thresholds, as tuned after training.

    Attributes:
        values: float64 `(num_classes,)`: label l is predicted where its
            probability is at least `values[l]` (one value repeated unless
            `per_label`).
        per_label: each label's own threshold (`threshold_per_label`).
        validation_rows: the rows they were tuned on; 0: none, so they are
            `DEFAULT_THRESHOLD` (0.5).
        micro_f1: the validation rows' micro-F1 at these thresholds, or None
            without validation rows.
    """

    values: np.ndarray
    per_label: bool
    validation_rows: int
    micro_f1: float | None

    def saved(self) -> float | list[float]:
        """What the bundle keeps: one number, or one per label (`save_bundle`'s `thresholds`)."""
        return self.values.tolist() if self.per_label else float(self.values[0])

    def summary(self) -> dict:
        """The training summary's record of them (bundle.json's `info.thresholds`)."""
        return {"per_label": self.per_label, "validation_rows": self.validation_rows,
                "validation_micro_f1": self.micro_f1}


def train_text_classifier(spec: SourceSpec, config: TrainConfig, validation: SourceSpec | None = None,
                          log: Callable[[str], None] = print,
                          prepared: PrepareProcess | None = None) -> TrainResult:
    """Prepare (or reuse) the data, train the chosen model, save the bundle.

    Args:
        spec: the training data.
        config: the recipe's options.
        validation: separate validation data; without it `config.validation_split`
            of the training rows is held out (0 for none: no early stopping).
        log: where progress lines go.
        prepared: the data's preparation, already started by `start_prepare`
            with the same arguments (the command line starts it before torch
            loads); default: started here.

    Under torchrun (several ranks) every rank calls this with the same
    arguments: rank 0 prepares the data while the others wait, then they open
    its cache; every rank trains on its share of each batch; only rank 0 logs,
    tunes a multi-label model's thresholds, and writes checkpoints and the
    bundle, and every rank returns the same history.

    Returns:
        The bundle path, the prepared dataset, the history and timings.

    Raises:
        UserError: bad data or output directory (see `streamfit.errors`).
        OptionError: a `batch_size` that the ranks cannot share evenly, or a
            `cache` that the ranks do not share.
    """
    spec, validation = label_sources(spec, config, validation)
    with distributed.process_group(config.device):
        warm_up = _warm_up_optimizer_imports()
        share = _share_of_batch(config)
        if not distributed.is_main():
            log = _silent
        started = time.perf_counter()
        dataset = _prepare(spec, config, validation, log, prepared)
        prepared_at = time.perf_counter()
        kind = resolve_model_kind(config.model_kind, dataset, config.device)
        warm_up.join()  # the optimizer of `_compile` needs what it imports
        extractor, module = _extractor_and_module(kind, dataset, config)
        model = _compile(module, dataset, config)
        train, validation_batches = _batch_sets(dataset, extractor, config)
        if config.verbose:
            world = distributed.world_size()
            log(f"train: model {kind}, {extractor.num_features} features, "
                f"{len(dataset.labels)} {'labels' if dataset.multi_label else 'classes'}, "
                f"{len(train)} steps per epoch"
                + (f" on {world} processes of {share} rows" if world > 1 else ""))
        history = _fit(model, train, validation_batches, dataset, config, kind)
        thresholds = _tune_thresholds(model, dataset, extractor, config)
        trained_at = time.perf_counter()
        seconds = {"prepare": prepared_at - started, "train": trained_at - prepared_at}
        replaced = _save(spec, config, dataset, extractor, model, kind, history, seconds,
                         thresholds)
        done = time.perf_counter()
    return TrainResult(bundle=Path(config.output), dataset=dataset, history=history.history,
                       model_kind=kind,
                       seconds={**seconds, "save": done - trained_at, "total": done - started},
                       replaced=replaced, thresholds=thresholds)


def _warm_up_optimizer_imports() -> threading.Thread:
    """Import `torch._dynamo` on a thread while the data is prepared.

    Every `torch.optim` optimizer imports it on first use (`torch._disable_dynamo`),
    1.2 s of one core here. While a child process prepares the data (see
    `streamfit.prepare.background`) this process only waits for it, so the
    import is free; when the data is prepared in this process the import
    and prepare's Python share the GIL and overlap little.
    """
    thread = threading.Thread(target=importlib.import_module, args=("torch._dynamo",),
                              name="streamfit-import", daemon=True)
    thread.start()
    return thread


def _share_of_batch(config: TrainConfig) -> int:
    """The rows of each global batch that this rank trains on.

    Raises:
        OptionError: `batch_size` is no multiple of the number of ranks.
    """
    world = distributed.world_size()
    if config.batch_size % world:
        raise OptionError("batch_size", config.batch_size,
                          f"is the global batch, split between {world} processes; use a multiple "
                          f"of {world}, e.g. {config.batch_size // world * world or world}")
    return config.batch_size // world


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def _prepare(spec: SourceSpec, config: TrainConfig, validation: SourceSpec | None,
             log: Callable[[str], None], prepared: PrepareProcess | None) -> PreparedDataset:
    """The prepared dataset: rank 0 prepares (or reuses) it, the others then open its cache."""
    def prepare() -> PreparedDataset:
        check_output_dir(Path(config.output), option="output")  # before hours of training, not after
        check_resume(spec, config, validation)  # before the prepare, which the resume may not need
        return (prepared or start_prepare(spec, config, validation, log)).result()

    shared = distributed.on_main_rank(prepare, share=lambda dataset: (
        str(dataset.directory), dataset.manifest["key"], dataset.reused))
    dataset = shared if distributed.is_main() else _open_prepared_by_rank_zero(config, *shared)
    if config.verbose:
        log(f"prepare: {'reused' if dataset.reused else 'built'} {dataset.directory} "
            f"({dataset.stats['train_rows']} training rows, {dataset.stats['validation_rows']} validation)")
    return dataset


def _open_prepared_by_rank_zero(config: TrainConfig, directory: str, key: str,
                                reused: bool) -> PreparedDataset:
    """The dataset that rank 0 prepared in `directory`, opened by another rank.

    Raises:
        OptionError: the rank cannot see `directory` (`cache` is not shared).
        CacheDamaged: the rank sees it, damaged (its own copy, on a machine of its own).
        UserError: the dataset there is not the one rank 0 prepared.
    """
    rank = distributed.rank()
    try:
        dataset = open_prepared(directory)
    except CacheDamaged:
        raise
    except UserError:
        raise OptionError(
            "cache", config.cache,
            f"is not shared: rank {rank} finds no prepared dataset in {directory}, where rank 0 "
            "prepared it; give a cache directory on a filesystem every machine shares, or prepare "
            "the data into the same cache directory on every machine first (`streamfit prepare`)"
        ) from None
    if dataset.manifest["key"] != key:
        raise UserError(
            f"rank {rank}: the prepared dataset in {directory} was made from other files or options "
            "than rank 0's; give every machine the same files (same paths, sizes and modification "
            "times: copy with rsync -a) or share the cache directory between machines")
    dataset.reused = reused
    return dataset


def resolve_model_kind(kind: str, dataset: PreparedDataset, device: str = "auto") -> str:
    """`kind`, or for "auto" the guide's choice for `dataset` (see `streamfit.models.auto_model`).

    Args:
        kind: "auto" or a model kind ("mlp", "sepcnn", "fasttext").
        dataset: the prepared dataset, whose statistics the guide's rule reads.
        device: the training device; on a GPU "auto" may pick sepcnn sooner.
    """
    if kind != "auto":
        return kind
    return auto_model(dataset.stats["train_rows"], dataset.stats["median_words_per_sample"],
                      on_gpu=resolve_device(device).type == "cuda")


def _extractor_and_module(kind: str, dataset: PreparedDataset,
                          config: TrainConfig) -> tuple[FeatureExtractor, torch.nn.Module]:
    """The feature extractor fitted on the training data and the module of `kind`, seeded."""
    torch.manual_seed(config.seed)  # the initial weights, so the same seed gives the same model
    outputs = {"num_classes": len(dataset.labels), "multi_label": dataset.multi_label}
    if kind == "mlp":
        extractor = NgramTfidf(ngram_range=config.ngram_range, top_k=config.top_k).fit(dataset.ngram_counts)
        module = build_model("mlp", num_features=extractor.num_features, layers=config.layers,
                             units=config.units, dropout=config.dropout, **outputs)
    elif kind == "fasttext":
        # 2**18 buckets: with the extractor's default 2**21 and dense Adam, an SST-2
        # epoch took minutes and 1.1 GB here; 2**18 cost IMDB under 0.01 accuracy.
        extractor = HashedNgrams(ngram_range=config.ngram_range, num_buckets=2**18).fit(len(dataset.vocabulary))
        module = build_model("fasttext", num_features=extractor.num_features, **outputs)
    else:
        extractor = Sequences().fit(dataset.stats["max_words_per_sample"])
        module = build_model("sepcnn", num_words=extractor.num_features, dropout=config.dropout,
                             **outputs)
    if dataset.multi_label and config.class_weight is None:
        with torch.no_grad():
            module.output_bias.copy_(torch.from_numpy(prior_log_odds(
                dataset.class_counts, dataset.stats["train_rows"])))
    return extractor, module


def prior_log_odds(label_rows: np.ndarray, rows: int) -> np.ndarray:
    """Each label's log-odds on the training rows, `log(p / (1 - p))`: a multi-label model's start.

    A model whose logits start at 0 says every label is as likely as not, and
    spends its first hundreds of steps learning that most are absent: on the
    20-label bench corpus (README "Multi-label") starting at the priors took
    test micro-F1 after the default 10 epochs from 0.62 to 0.72. With
    `class_weight="balanced"` each label's weighted prior is one half, which
    0 already is. `p` is kept half a row away from 0 and 1.

    Args:
        label_rows: float or int `[labels]`: training rows holding each label.
        rows: training rows.

    Returns:
        float32 `[labels]`.
    """
    p = np.clip(np.asarray(label_rows, np.float64) / rows, 0.5 / rows, 1 - 0.5 / rows)
    return np.log(p / (1 - p)).astype(np.float32)


def _compile(module: torch.nn.Module, dataset: PreparedDataset, config: TrainConfig) -> Model:
    """The `Model` over `module`: the loss for its outputs, Adam, this rank's device.

    Binary cross-entropy for two classes (one sigmoid) and for multi-label data
    (one sigmoid per label), else the softmax's sparse categorical cross-entropy.
    """
    binary = len(dataset.labels) == 2 or dataset.multi_label
    return Model(module, loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                 optimizer=lambda params: torch.optim.Adam(params, lr=config.learning_rate, fused=True),
                 metrics=["accuracy"], device=distributed.device_for(config.device), seed=config.seed)


def _batch_sets(dataset: PreparedDataset, extractor: FeatureExtractor,
                config: TrainConfig) -> tuple[PreparedBatches, PreparedBatches | None]:
    """This rank's training batch set, and its validation batch set (None without validation rows)."""
    world, rank = distributed.world_size(), distributed.rank()
    train = PreparedBatches(dataset.train, extractor.transform, config.batch_size // world,
                            seed=config.seed, rank=rank, world_size=world)
    if dataset.validation is None or not len(dataset.validation):
        return train, None
    # A multiple of the batch size, so that the ranks share it evenly too.
    batch_size = config.batch_size * math.ceil(_MIN_VALIDATION_BATCH / config.batch_size)
    validation = PreparedBatches(dataset.validation, extractor.transform, batch_size // world,
                                 shuffle=False, rank=rank, world_size=world)
    return train, validation


def balanced_class_weight(class_counts: np.ndarray) -> dict[int, float]:
    """scikit-learn's "balanced": n_samples / (n_classes * count of the class)."""
    total, k = class_counts.sum(), len(class_counts)
    return {i: float(total / (k * c)) for i, c in enumerate(class_counts) if c > 0}


def _class_weight(dataset: PreparedDataset, config: TrainConfig) -> dict[int, float] | str | None:
    """The weight of each class id under `config.class_weight` (None: every class weighs 1).

    Multi-label: "balanced", which `Model.fit` reads per label from the
    training split's label lists (a weight for each label's positive and
    negative values: no dict of class ids can say it).
    """
    if config.class_weight is None:
        return None
    if dataset.multi_label:
        return config.class_weight
    counts = np.array([dataset.stats["classes"][name] for name in dataset.labels.names])
    return balanced_class_weight(counts)


def _checkpoint_folder(config: TrainConfig) -> Path:
    """`output/checkpoints`, its checkpoints removed by rank 0 unless the run resumes from them.

    Only checkpoints are removed: a file of anyone else's there stays.
    """
    checkpoints = Path(config.output) / "checkpoints"
    if not config.resume and distributed.is_main():
        remove_checkpoints(checkpoints)
    return checkpoints


def _fit(model: Model, train: PreparedBatches, validation: PreparedBatches | None,
         dataset: PreparedDataset, config: TrainConfig, kind: str) -> History:
    """`Model.fit`: early stopping on validation loss, class weights, checkpoints, torch's threads."""
    callbacks = []
    if validation is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=config.patience,
                                       restore_best_weights=True))
    checkpoints = _checkpoint_folder(config)
    try:
        with torch_threads(config.threads or sparse_model_threads(model.module)):
            return model.fit(
                train, epochs=config.epochs, validation_data=validation, callbacks=callbacks,
                class_weight=_class_weight(dataset, config), verbose=config.verbose,
                workers=config.workers, checkpoint_dir=checkpoints,
                checkpoint_every_steps=config.checkpoint_every_steps,
                checkpoint_every_minutes=config.checkpoint_every_minutes,
                keep_checkpoints=config.keep_checkpoints,
                resume_from=checkpoints if config.resume else None,
                fingerprint=_fingerprint(dataset, config, kind))
    except FingerprintMismatch as error:
        # The recipe's own words: its `resume` option, not fit's checkpoint_dir.
        raise resume_refused(error.path, error.differences) from None
    except OptionError as error:
        if error.option != "checkpoint_dir":
            raise
        # The checkpoints go in output/checkpoints: `output` is the recipe's option for them.
        raise OptionError("output", config.output, f"holds its checkpoints in {error.value}, "
                          f"which {error.problem}") from None


def _fingerprint(dataset: PreparedDataset, config: TrainConfig, kind: str) -> dict:
    """What a checkpoint must agree on to be resumed: the data and the recipe's options.

    The data is the prepared dataset's key, which `check_resume` computes before preparing.
    """
    return {"data": dataset.manifest["key"], "options": run_options(config, kind)}


def _tune_thresholds(model: Model, dataset: PreparedDataset, extractor: FeatureExtractor,
                     config: TrainConfig) -> Thresholds | None:
    """A multi-label model's decision thresholds, tuned by rank 0 on all validation rows.

    The trained model's sigmoid probabilities on the validation split, against
    its label sets, give `tune_thresholds` the threshold maximising micro-F1
    (each label's own F1 with `config.threshold_per_label`). Without
    validation rows the threshold is 0.5. None for single-label data.
    """
    if not dataset.multi_label:
        return None

    def tune() -> Thresholds:
        num_labels = len(dataset.labels)
        split = dataset.validation
        if split is None or not len(split):
            return Thresholds(np.full(num_labels, DEFAULT_THRESHOLD), config.threshold_per_label,
                              0, None)
        batches = PreparedBatches(split, extractor.transform,
                                  max(config.batch_size, _MIN_VALIDATION_BATCH), shuffle=False)
        with torch_threads(config.threads or sparse_model_threads(model.module)):
            probabilities = model.predict(batches, verbose=0, workers=config.workers)
        truth = split.label_matrix()
        values = tune_thresholds(probabilities, truth, per_label=config.threshold_per_label)
        counts = MultiLabelCounts(dataset.labels.names)
        counts.update(truth, probabilities >= values)
        return Thresholds(values, config.threshold_per_label, len(split),
                          counts.report()["micro_f1"])

    return distributed.on_main_rank(tune)


def _save(spec: SourceSpec, config: TrainConfig, dataset: PreparedDataset, extractor: FeatureExtractor,
          model: Model, kind: str, history: History, seconds: dict,
          thresholds: Thresholds | None = None) -> str | None:
    """Rank 0 writes the bundle: what predicting needs, and a summary of the run.

    Returns:
        The bundle it replaced (`check_output_dir`'s description), or None.
    """
    info = {"train_rows": dataset.stats["train_rows"], "epochs": len(history.epoch),
            "seconds": seconds, "prepare_reused": dataset.reused,
            "history": history.history, "data_wait": history.data_wait,
            "accounting": dataset.manifest["accounting"]}
    if thresholds is not None:
        info["thresholds"] = thresholds.summary()

    def save() -> str | None:
        replaced = check_output_dir(Path(config.output), option="output")
        save_bundle(Path(config.output), tokenizer=Tokenizer(**dataset.manifest["tokenizer"]),
                    vocabulary=dataset.vocabulary, extractor=extractor, module=model.module.cpu(),
                    model_kind=kind, labels=dataset.labels, source=spec_options(spec), info=info,
                    option="output", multi_label=dataset.multi_label,
                    thresholds=None if thresholds is None else thresholds.saved())
        return replaced

    return distributed.on_main_rank(save, share=lambda replaced: replaced)


def spec_options(spec: SourceSpec) -> dict:
    """The source options a bundle keeps so new data is read the same way.

    A multi-label source's `multi_label` and `label_sep` too (a single-label
    bundle's source options are what they were before multi-label data).
    """
    options = {"text": list(spec.text), "label": spec.label, "header": spec.header,
               "encoding": spec.encoding, "preset": spec.preset, "format": spec.format}
    if spec.multi_label:
        options.update(multi_label=True, label_sep=spec.label_sep)
    return options
