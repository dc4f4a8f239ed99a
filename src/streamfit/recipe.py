"""The default recipe: raw files to a saved bundle, the guide's way.

prepare (cached) -> features fitted on the training counts -> the chosen
model -> `Model.fit` over prepared batch sets -> a bundle. `streamfit train`
is a thin shell over `train_text_classifier`.

Under torchrun every rank runs the recipe (see `streamfit.distributed`):
rank 0 prepares the data and writes the bundle, each rank trains on its
share of every global batch.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from streamfit import distributed
from streamfit.batches.prepared import PreparedBatches
from streamfit.bundle import check_output_dir, save_bundle
from streamfit.errors import UserError
from streamfit.features import HashedNgrams, NgramTfidf, Sequences
from streamfit.models import auto_model, build_model
from streamfit.prepare.background import PrepareProcess
from streamfit.prepare.pipeline import PreparedDataset, open_prepared
from streamfit.prepare.tokenize import Tokenizer
from streamfit.recipe_config import MODEL_CHOICES, TrainConfig, start_prepare
from streamfit.sources import SourceSpec
from streamfit.training import Model
from streamfit.training.callbacks import EarlyStopping
from streamfit.training.tensors import resolve_device, sparse_model_threads, torch_threads


@dataclass
class TrainResult:
    bundle: Path
    dataset: PreparedDataset
    history: dict
    model_name: str
    seconds: dict


def resolve_model_name(name: str, dataset: PreparedDataset, device: str = "auto") -> str:
    if name not in MODEL_CHOICES:
        raise UserError(f"--model {name!r} is unknown; use one of {', '.join(MODEL_CHOICES)}")
    if name != "auto":
        return name
    return auto_model(dataset.stats["train_rows"], dataset.stats["median_words_per_sample"],
                      on_gpu=resolve_device(device).type == "cuda")


def _extractor_and_model(name: str, dataset: PreparedDataset, config: TrainConfig):
    num_classes = len(dataset.labels)
    if name == "mlp":
        extractor = NgramTfidf(ngram_range=config.ngram_range, top_k=config.top_k).fit(dataset.ngram_counts)
        module = build_model("mlp", num_features=extractor.num_features, num_classes=num_classes,
                             layers=config.layers, units=config.units, dropout=config.dropout)
    elif name == "fasttext":
        # 2**18 buckets: with the extractor's default 2**21 and dense Adam, an SST-2
        # epoch took minutes and 1.1 GB here; 2**18 cost IMDB under 0.01 accuracy.
        extractor = HashedNgrams(ngram_range=config.ngram_range, num_buckets=2**18).fit(len(dataset.vocabulary))
        module = build_model("fasttext", num_features=extractor.num_features, num_classes=num_classes)
    else:
        extractor = Sequences().fit(dataset.stats["max_words_per_sample"])
        module = build_model("sepcnn", num_words=extractor.num_features, num_classes=num_classes,
                             dropout=config.dropout)
    return extractor, module


def balanced_class_weight(class_counts: np.ndarray) -> dict[int, float]:
    """scikit-learn's "balanced": n_samples / (n_classes * count of the class)."""
    total, k = class_counts.sum(), len(class_counts)
    return {i: float(total / (k * c)) for i, c in enumerate(class_counts) if c > 0}


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
    its cache; every rank trains on its share of each batch; only rank 0 logs
    and writes checkpoints and the bundle, and every rank returns the same
    history.

    Returns:
        The bundle path, the prepared dataset, the history and timings.

    Raises:
        UserError: bad options, data or output directory (see `streamfit.errors`);
            a batch size that the ranks cannot share evenly.
    """
    with distributed.process_group(config.device):
        return _train(spec, config, validation, log, prepared)


def _prepare_once(work: Callable[[], PreparedDataset]) -> PreparedDataset:
    """Rank 0 runs `work` (prepare or reuse the data); the others then open the same cache."""
    shared = distributed.on_main_rank(work, share=lambda dataset: (
        str(dataset.directory), dataset.manifest["key"], dataset.reused))
    if distributed.is_main():
        return shared
    directory, key, reused = shared
    rank = distributed.rank()
    try:
        dataset = open_prepared(directory)
    except UserError:
        raise UserError(
            f"rank {rank} finds no prepared dataset in {directory}, where rank 0 prepared it; put "
            "--cache on a filesystem every machine shares, or run `streamfit prepare` with the same "
            "--cache on every machine first") from None
    if dataset.manifest["key"] != key:
        raise UserError(
            f"rank {rank}: the prepared dataset in {directory} was made from other files or options "
            "than rank 0's; give every machine the same files (same paths, sizes and modification "
            "times: copy with rsync -a) or share --cache between machines")
    dataset.reused = reused
    return dataset


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


def _train(spec: SourceSpec, config: TrainConfig, validation: SourceSpec | None,
           log: Callable[[str], None], prepared: PrepareProcess | None) -> TrainResult:
    warm_up = _warm_up_optimizer_imports()
    if config.class_weight not in (None, "balanced"):
        raise UserError(f"--class-weight {config.class_weight!r} is unknown; use 'balanced'")
    world, rank = distributed.world_size(), distributed.rank()
    if config.batch_size % world:
        raise UserError(
            f"--batch-size {config.batch_size} is the global batch, split between {world} processes; "
            f"use a multiple of {world}, e.g. {config.batch_size // world * world or world}")
    if not distributed.is_main():
        log = _silent
    output = Path(config.output)
    started = time.perf_counter()

    def prepare() -> PreparedDataset:
        check_output_dir(output)  # before hours of training, not after
        return (prepared or start_prepare(spec, config, validation, log)).result()

    dataset = _prepare_once(prepare)
    prepared = time.perf_counter()
    if config.verbose:
        log(f"prepare: {'reused' if dataset.reused else 'built'} {dataset.directory} "
            f"({dataset.stats['train_rows']} training rows, {dataset.stats['validation_rows']} validation)")
    model_name = resolve_model_name(config.model, dataset, config.device)
    warm_up.join()  # the optimizer below needs what it imports
    torch.manual_seed(config.seed)  # the initial weights, so the same seed gives the same model
    extractor, module = _extractor_and_model(model_name, dataset, config)
    binary = len(dataset.labels) == 2
    model = Model(module, loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                  optimizer=lambda params: torch.optim.Adam(params, lr=config.learning_rate,
                                                            fused=True),
                  metrics=["accuracy"], device=distributed.device_for(config.device), seed=config.seed)
    train = PreparedBatches(dataset.train, extractor.transform, config.batch_size // world,
                            seed=config.seed, rank=rank, world_size=world)
    val = None
    callbacks = []
    if dataset.validation is not None and len(dataset.validation):
        # At least 512 rows, a multiple of the batch size so that ranks share it evenly.
        val_batch = config.batch_size * math.ceil(512 / config.batch_size)
        val = PreparedBatches(dataset.validation, extractor.transform, val_batch // world,
                              shuffle=False, rank=rank, world_size=world)
        callbacks.append(EarlyStopping(monitor="val_loss", patience=config.patience,
                                       restore_best_weights=True))
    class_weight = None
    if config.class_weight == "balanced":
        counts = np.array([dataset.stats["classes"][name] for name in dataset.labels.names])
        class_weight = balanced_class_weight(counts)
    if config.verbose:
        log(f"train: model {model_name}, {extractor.num_features} features, "
            f"{len(dataset.labels)} classes, {len(train)} steps per epoch"
            + (f" on {world} processes of {config.batch_size // world} rows" if world > 1 else ""))
    checkpoints = output / "checkpoints"
    if not config.resume and distributed.is_main():
        shutil.rmtree(checkpoints, ignore_errors=True)
    with torch_threads(config.threads or sparse_model_threads(module)):
        history = model.fit(
            train, epochs=config.epochs, validation_data=val, callbacks=callbacks,
            class_weight=class_weight, verbose=config.verbose, workers=config.workers,
            checkpoint_dir=checkpoints, checkpoint_every_steps=config.checkpoint_every_steps,
            checkpoint_every_minutes=config.checkpoint_every_minutes,
            keep_checkpoints=config.keep_checkpoints, resume_from=checkpoints if config.resume else None,
            fingerprint=_fingerprint(dataset, config, model_name))
    trained = time.perf_counter()
    source = spec_options(spec)
    info = {"train_rows": dataset.stats["train_rows"], "epochs": len(history.epoch),
            "seconds": {"prepare": prepared - started, "train": trained - prepared},
            "prepare_reused": dataset.reused,
            "history": history.history, "data_wait": history.data_wait,
            "accounting": dataset.manifest["accounting"]}
    distributed.on_main_rank(lambda: save_bundle(
        output, tokenizer=Tokenizer(**dataset.manifest["tokenizer"]), vocabulary=dataset.vocabulary,
        extractor=extractor, module=model.module.cpu(), model_name=model_name, labels=dataset.labels,
        source=source, info=info))
    done = time.perf_counter()
    seconds = {"prepare": prepared - started, "train": trained - prepared, "save": done - trained,
               "total": done - started}
    return TrainResult(bundle=output, dataset=dataset, history=history.history, model_name=model_name,
                       seconds=seconds)


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def _fingerprint(dataset: PreparedDataset, config: TrainConfig, model_name: str) -> dict:
    """What a checkpoint must agree on to be resumed: the data and the recipe's options."""
    options = dataclasses.asdict(config)
    for name in ("output", "cache", "device", "workers", "verbose", "epochs", "resume",
                 "checkpoint_every_steps", "checkpoint_every_minutes", "keep_checkpoints"):
        options.pop(name)
    options["model"] = model_name
    return {"data": dataset.manifest["key"], "options": json.loads(json.dumps(options))}


def spec_options(spec: SourceSpec) -> dict:
    """The source options a bundle keeps so new data is read the same way."""
    return {"text": list(spec.text), "label": spec.label, "header": spec.header,
            "encoding": spec.encoding, "preset": spec.preset, "format": spec.format}
