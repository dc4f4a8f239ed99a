"""The model bundle: everything needed to predict on raw text, saved without pickle.

A bundle is a directory:

    bundle.json        format version, source options, tokenizer, labels,
                       feature extractor and model names and configs, training summary
    vocabulary.arrow   the word vocabulary (Arrow IPC)
    features.npz       the feature extractor's fitted arrays (loaded with allow_pickle=False)
    weights.pt         the model's state dict (loaded with torch.load(weights_only=True))

`save_bundle` writes into a temporary sibling directory and renames it into
place, so a crash never leaves a half-written bundle where a good one was.
"""

from __future__ import annotations

import json
import os
import pickle  # only for its exception: torch.load(weights_only=True) raises it
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import torch

from streamfit.errors import OptionError, UserError
from streamfit.features import FeatureExtractor, build_extractor
from streamfit.files import write_json
from streamfit.models import build_model
from streamfit.prepare.cache import load_npz
from streamfit.prepare.labels import LabelMap
from streamfit.prepare.parallel import ordered_map
from streamfit.prepare.tokenize import Tokenizer
from streamfit.prepare.vocabulary import Vocabulary
from streamfit.sources import RowAccounting, SourceSpec, iter_records
from streamfit.training.tensors import (
    resolve_device,
    sparse_model_threads,
    to_tensors,
    torch_threads,
)

BUNDLE_FORMAT = 1


@dataclass
class Bundle:
    """A trained text classifier: raw text in, class probabilities out.

    Attributes:
        tokenizer, vocabulary: how raw text becomes word ids, as in training.
        extractor: the fitted feature extractor (word ids to model input).
        module: the trained module, on the CPU until a prediction moves it.
        model_kind: "mlp", "sepcnn" or "fasttext".
        labels: the class names, by class id.
        source: the training data's source options (`SourceSpec` fields).
        info: the training run's summary: rows, epochs, seconds, history.
    """

    tokenizer: Tokenizer
    vocabulary: Vocabulary
    extractor: FeatureExtractor
    module: torch.nn.Module
    model_kind: str
    labels: LabelMap
    source: dict
    info: dict

    def featurize(self, text: pa.Array):
        """Model input for a batch of raw texts."""
        offsets, ids = self.vocabulary.lookup(self.tokenizer(text))
        return self.extractor.transform(offsets, ids)

    def predict_proba(self, text: pa.Array, device: torch.device | str = "cpu") -> np.ndarray:
        """Class probabilities `[len(text), num_classes]` for raw texts."""
        device = resolve_device(device)
        self.module.to(device)
        return self._probabilities(self.featurize(text), device)

    @torch.no_grad()
    def _probabilities(self, x, device: torch.device) -> np.ndarray:
        self.module.eval()
        x = to_tensors(x, device, keep_sparse=bool(getattr(self.module, "accepts_sparse", False)))
        logits = self.module(x).float()
        if logits.shape[-1] == 1:
            p = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p, p], dim=1).cpu().numpy()
        return torch.softmax(logits, dim=-1).cpu().numpy()

    def predict_source(self, spec: SourceSpec, accounting: RowAccounting, batch_size: int = 1024,
                       device: str = "auto") -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        """Stream `(records, probabilities)` over a source, one batch at a time, in order.

        Batches are tokenized and featurized on two threads while the model runs.
        """
        device = resolve_device(device)
        self.module.to(device)
        parts = (records.slice(start, batch_size) for records in iter_records(spec, accounting)
                 for start in range(0, records.num_rows, batch_size))
        with torch_threads(sparse_model_threads(self.module)):
            for part, x in ordered_map(lambda part: (part, self.featurize(part.column("text"))), parts):
                yield part, self._probabilities(x, device)

    def source_spec(self, paths, *, labelled: bool = True, **overrides) -> SourceSpec:
        """A SourceSpec for new data: the training data's options, then `overrides` (None = keep).

        With `labelled=False` the label column is not read (prediction).
        """
        options = dict(self.source)
        options.update({k: v for k, v in overrides.items() if v is not None})
        if not labelled:
            options["label"] = None
        if isinstance(options.get("text"), list):
            options["text"] = tuple(options["text"])
        return SourceSpec(paths=tuple(paths), **options)


def save_bundle(directory: str | Path, *, tokenizer: Tokenizer, vocabulary: Vocabulary,
                extractor: FeatureExtractor, module: torch.nn.Module, model_kind: str,
                labels: LabelMap, source: dict, info: dict) -> Path:
    """Write a bundle to `directory`, atomically replacing what is there.

    A run's `checkpoints` in `directory` move into the new bundle.

    Returns:
        `directory`.

    Raises:
        OptionError: `directory` cannot hold a bundle (see `check_output_dir`).
    """
    directory = Path(directory)
    check_output_dir(directory)
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with ipc.new_file(str(work / "vocabulary.arrow"), vocabulary.to_table().schema) as f:
            f.write_table(vocabulary.to_table())
        np.savez(work / "features.npz", **extractor.state_dict())
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        torch.save(state, work / "weights.pt")
        write_json(work / "bundle.json", {
            "format": BUNDLE_FORMAT,
            "source": source,
            "tokenizer": tokenizer.get_config(),
            "labels": labels.names,
            "features": {"name": type(extractor).name, "config": extractor.get_config()},
            "model": {"name": model_kind, "config": module.get_config()},
            "info": info,
        })
        if (directory / "checkpoints").is_dir():  # the run's checkpoints stay with its bundle
            os.replace(directory / "checkpoints", work / "checkpoints")
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
        os.replace(work, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory


def check_output_dir(directory: Path, option: str = "directory") -> None:
    """Fail early, with the fix, when a bundle cannot be written to `directory`.

    The directory may be new, empty, a bundle (it is replaced) or hold only a
    run's `checkpoints`; anything else is the user's and is not overwritten.

    Args:
        directory: where the bundle goes.
        option: the caller's argument that gave `directory`, for the message
            (the recipe's `output`).

    Raises:
        OptionError: `directory` is a file, holds files of the user's, or
            cannot be written.
    """
    if directory.exists() and not directory.is_dir():
        raise OptionError(option, str(directory), "is a file; give a directory for the bundle")
    if directory.is_dir() and not (directory / "bundle.json").exists():
        foreign = sorted(p.name for p in directory.iterdir() if p.name != "checkpoints")
        if foreign:
            raise OptionError(option, str(directory), f"exists and is not a streamfit bundle (it "
                              f"holds {foreign[0]!r}); choose an empty or new directory")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory.parent).close()
    except OSError as e:
        raise OptionError(option, str(directory), f"cannot be written ({e.strerror}); "
                          "choose a writable directory") from None


def load_bundle(directory: str | Path) -> Bundle:
    """Load a bundle without executing code from it.

    Raises:
        UserError: the directory is not a bundle, or a file is truncated or tampered with.
    """
    directory = Path(directory)
    meta_path = directory / "bundle.json"
    if not meta_path.is_file():
        raise UserError(f"{directory}: not a streamfit bundle (no bundle.json); give the output "
                        "directory of a training run (`streamfit train`, `train_text_classifier`)")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != BUNDLE_FORMAT:
            raise UserError(f"{meta_path}: bundle format {meta.get('format')!r} is not "
                            f"{BUNDLE_FORMAT}; retrain with this version of streamfit")
        vocabulary = Vocabulary.from_table(ipc.open_file(str(directory / "vocabulary.arrow")).read_all())
        extractor = build_extractor(meta["features"]["name"], meta["features"]["config"])
        extractor.load_state_dict(load_npz(directory / "features.npz"))
        module = build_model(meta["model"]["name"], **meta["model"]["config"])
        state = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except UserError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError,
            pa.ArrowException) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{directory}: the bundle is damaged or was tampered with ({reason}); "
                        "train it again") from None
    module.eval()
    return Bundle(tokenizer=Tokenizer(**meta["tokenizer"]), vocabulary=vocabulary, extractor=extractor,
                  module=module,
                  model_kind=meta["model"]["name"], labels=LabelMap(meta["labels"]),
                  source=meta["source"], info=meta.get("info", {}))
