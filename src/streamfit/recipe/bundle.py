"""The model bundle: everything needed to predict on raw text, saved without pickle.

A bundle is a directory:

    bundle.json        format version, source options, tokenizer, labels,
                       feature extractor and model names and configs, training summary;
                       a multi-label bundle also `"multi_label": true` and its decision
                       threshold(s): `"threshold": t` (one for every label) or
                       `"thresholds": [t per label]` (a bundle without them is single-label)
    vocabulary.arrow   the word vocabulary (Arrow IPC)
    features.npz       the feature extractor's fitted arrays (loaded with allow_pickle=False)
    weights.npz        the model's state dict as float32 arrays (`streamfit.inference.weights`;
                       bundle.json's `"weights": "weights.npz"`); bundles written before
                       issue 16 hold `weights.pt` instead (read with torch.load(weights_only=True))

The bag models (mlp, fasttext) load and predict without torch: their
forward is numpy/scipy (`streamfit.inference.forward`), and torch is
imported only for a sepCNN bundle, an old `weights.pt`, `Bundle.module`, or
a prediction asked of a GPU.

`save_bundle` writes into a temporary sibling directory and renames it into
place, so a crash or a full disk never leaves a half-written bundle where a
good one was; it replaces only a streamfit bundle (its bundle.json's
`format`, and nothing in the folder but a bundle's files and `checkpoints`),
and removes only the files it wrote. `load_bundle` trusts nothing it reads:
every field of bundle.json is checked, the model's declared shapes are
compared with the weights' headers before any array is read (on torch's meta
device for a sepCNN),
and files that are symbolic links are refused; each problem is one line
naming the file and the field.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from streamfit.errors import OptionError, UserError
from streamfit.features import FeatureExtractor, build_extractor
from streamfit.files import check_writable_parent, is_disk_full, open_regular, write_atomic
from streamfit.inference import forward
from streamfit.inference.weights import (
    WEIGHTS_NPZ,
    WEIGHTS_PT,
    as_arrays,
    check_shapes,
    read_weights,
    write_weights,
)
from streamfit.prepare.labels import LabelMap
from streamfit.prepare.parallel import ordered_map
from streamfit.prepare.tokenize import Tokenizer
from streamfit.prepare.vocabulary import Vocabulary
from streamfit.recipe.selection import Selection, default_selection, select
from streamfit.sources import RECORD_SCHEMA, RowAccounting, SourceSpec, iter_records
from streamfit.workspace import Workspace, sweep_stale

if TYPE_CHECKING:
    import torch

BUNDLE_FORMAT = 1


@dataclass
class Bundle:
    """A trained text classifier: raw text in, class probabilities out.

    Attributes:
        tokenizer, vocabulary: how raw text becomes word ids, as in training.
        extractor: the fitted feature extractor (word ids to model input).
        model_kind: "mlp", "sepcnn" or "fasttext" (also `kind`).
        weights: the model's state dict as numpy arrays (float32), by name.
        config: the model's constructor arguments (bundle.json's model.config).
        labels: the class names, by class id.
        source: the training data's source options (`SourceSpec` fields).
        info: the training run's summary: rows, epochs, seconds, history.
        multi_label: whether a text may carry any number of the labels (one
            sigmoid per label), or exactly one (a softmax, or one sigmoid for
            two classes).
        thresholds: a multi-label bundle's decision thresholds, float64
            `(num_classes,)` (one tuned threshold repeated, or one per
            label): label l is predicted where its probability is at least
            `thresholds[l]`. None for a single-label bundle.
        meta: the parsed, checked bundle.json (for a server's /metadata).

    A bag model (mlp, fasttext) predicts with numpy/scipy on the CPU
    (`streamfit.inference.forward`) for the devices "cpu" and "auto"; a
    sepCNN, or a device such as "cuda", runs the torch module (`module`,
    built from `weights` on first use: the one place torch is imported).
    """

    tokenizer: Tokenizer
    vocabulary: Vocabulary
    extractor: FeatureExtractor
    model_kind: str
    weights: dict[str, np.ndarray]
    config: dict
    labels: LabelMap
    source: dict
    info: dict
    multi_label: bool = False
    thresholds: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    _module: Any = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """The model kind: "mlp", "fasttext" or "sepcnn"."""
        return self.model_kind

    @property
    def module(self) -> torch.nn.Module:
        """The trained torch module (built from `weights` on first use; imports torch), in eval mode."""
        if self._module is None:
            import torch

            from streamfit.models import build_model

            module = build_model(self.model_kind, **self.config)
            module.load_state_dict({name: torch.from_numpy(np.array(array))
                                    for name, array in self.weights.items()})
            self._module = module.eval()
        return self._module

    def _numpy(self, device) -> bool:
        """Whether a prediction on `device` runs the numpy forward (a bag model on the CPU)."""
        if self.model_kind not in forward.BAG_KINDS:
            return False
        return (device in ("auto", "cpu") if isinstance(device, str)
                else getattr(device, "type", None) == "cpu")

    def _device(self, device):
        """`device` for the torch path, the module moved there; None for the numpy path."""
        if self._numpy(device):
            return None
        from streamfit.training.tensors import resolve_device

        device = resolve_device(device)
        self.module.to(device)
        return device

    def featurize(self, text: pa.Array):
        """Model input for a batch of raw texts."""
        offsets, ids = self.vocabulary.lookup(self.tokenizer(text))
        return self.extractor.transform(offsets, ids)

    def predict_proba(self, text: pa.Array, device: torch.device | str = "cpu") -> np.ndarray:
        """Class probabilities `[len(text), num_classes]` for raw texts.

        Single-label: a softmax (rows sum to 1). Multi-label: each label's own
        sigmoid (each in [0, 1], no sum), to compare with `thresholds`.
        """
        return self._probabilities(self.featurize(text), self._device(device))

    def _probabilities(self, x, device) -> np.ndarray:
        """Probabilities of feature rows `x`: numpy for `device` None, else torch on `device`."""
        if device is None:
            return forward.predict_proba(self.model_kind, self.config, self.weights, x,
                                         self.multi_label)
        import torch

        from streamfit.training.tensors import to_tensors

        with torch.no_grad():
            self.module.eval()
            x = to_tensors(x, device, keep_sparse=bool(getattr(self.module, "accepts_sparse", False)))
            logits = self.module(x).float().cpu().numpy()
        return forward.probabilities_of(logits, self.multi_label)

    def predict(self, texts, k: int | None = None, threshold: float | np.ndarray | None = None, *,
                device: torch.device | str = "cpu", batch_size: int = 1024) -> list[list[tuple[str, float]]]:
        """The labels of raw texts with their probabilities: fastText's `predict-prob k threshold`.

        Args:
            texts: strings (a list, or a pyarrow string array).
            k: the most labels per text; -1 for all. None: 1 for a
                single-label bundle, all for a multi-label one.
            threshold: the least probability a label needs (one number, or
                one per label). None: none for a single-label bundle, the
                bundle's tuned thresholds for a multi-label one.
            device: where the model runs.
            batch_size: texts per forward pass.

        Returns:
            Per text, (label, probability) pairs, most probable first (ties by
            label id; see `streamfit.recipe.selection`). A list may be empty
            when a threshold applies.

        Raises:
            OptionError: k is not -1 or >= 1, a threshold is not in [0, 1], or
                `texts` is one string.

        Example:
            >>> bundle.predict(["a great film"], k=2)  # doctest: +SKIP
            [[('pos', 0.97), ('neg', 0.03)]]
        """
        if isinstance(texts, str):
            raise OptionError("texts", texts[:40], "is one string; pass a list of texts, [text]")
        texts = texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.string())
        names = self.labels.names
        answers = []
        for start in range(0, len(texts), batch_size):
            chosen = self.choose(self.predict_proba(texts.slice(start, batch_size), device), k, threshold)
            answers += [[(names[label], p) for label, p in row] for row in chosen.rows()]
        return answers

    def choose(self, probabilities: np.ndarray, k: int | None = None,
               threshold: float | np.ndarray | None = None) -> Selection:
        """The labels `predict` names for rows of `probabilities`, flat (`selection.select`)."""
        k, threshold = default_selection(self.multi_label, self.thresholds, k, threshold)
        return select(probabilities, k, threshold)

    def predict_source(self, spec: SourceSpec, accounting: RowAccounting, batch_size: int = 1024,
                       device: str = "auto") -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        """Stream `(records, probabilities)` over a source, one batch at a time, in order.

        Batches are tokenized and featurized on two threads while the model runs.
        Skipped rows are only counted in `accounting`; `predict_rows` answers them too.
        """
        for records, _, probabilities in self._predict(spec, accounting, batch_size, device, False):
            yield records, probabilities

    def predict_rows(self, spec: SourceSpec, accounting: RowAccounting, batch_size: int = 1024,
                     device: str = "auto", *, stream: bool = False,
                     records: Iterator[pa.RecordBatch] | None = None,
                     ) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch, np.ndarray]]:
        """Stream `(records, skipped, probabilities)`: every input row, good or bad, in order.

        `skipped` holds the rows that could not be read (columns `skipped`: the
        cause, `source`, `line`, sorted by (source, line)) that come before the
        last of `records` and after the previous batch's last record; the last
        batch also has those after it. Merged by (source, line), records and
        skipped rows are the input's rows in file order, each exactly once. A
        batch may have no records (a source with no readable rows at its end);
        its probabilities then have no rows. A run of bad rows is answered
        chunk by chunk (the skips held are one chunk's at most), in batches
        without records.

        Args:
            accounting: made with `RowAccounting(log_skips=True)`.
            stream: answer each chunk as soon as it is read, before the next
                one is read (standard input: an answer must not wait for
                the next line). Otherwise the next chunk is featurized while
                the model runs on this one.
            records: the record batches to answer, in place of
                `iter_records(spec, accounting)` (`sources.stdin.iter_stdin_records`).
        """
        yield from self._predict(spec, accounting, batch_size, device, True, stream, records)

    def _predict(self, spec: SourceSpec, accounting: RowAccounting, batch_size: int, device: str,
                 answer_skipped: bool, stream: bool = False, chunks: Iterator[pa.RecordBatch] | None = None,
                 ) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None, np.ndarray]]:
        device = self._device(device)

        def parts():
            # The skips are taken here, as each chunk is pulled (not in
            # ordered_map's look-ahead), so they are exactly those up to its end.
            for records in (iter_records(spec, accounting) if chunks is None else chunks):
                skipped = self._skipped_batch(accounting.take_skipped()) if answer_skipped else None
                if records.num_rows == 0:
                    # A chunk of only bad rows (iter_records yields it with log_skips):
                    # answer its skips now, so they never pile up over a long bad run.
                    if skipped is not None and skipped.num_rows:
                        yield None, skipped
                    continue
                starts = range(0, records.num_rows, batch_size)
                owner = None
                if skipped is not None and skipped.num_rows:
                    last = np.asarray(records.column("line"))[[min(s + batch_size, records.num_rows) - 1
                                                              for s in starts]]
                    owner = np.minimum(np.searchsorted(
                        self._row_keys(records.column("source")[0].as_py(), last),
                        self._row_keys(skipped.column("source"), skipped.column("line"))), len(last) - 1)
                for i, start in enumerate(starts):
                    mine = (None if skipped is None else skipped if owner is None
                            else skipped.filter(pa.array(owner == i)))
                    yield records.slice(start, batch_size), mine
            if answer_skipped:
                skipped = self._skipped_batch(accounting.take_skipped())
                if skipped.num_rows:
                    yield None, skipped

        def features(part):
            records, skipped = part
            return records, skipped, None if records is None else self.featurize(records.column("text"))

        with self._threads(device):
            for records, skipped, x in ordered_map(features, parts(), workers=1 if stream else 2):
                if records is None:
                    yield (pa.RecordBatch.from_pylist([], schema=RECORD_SCHEMA), skipped,
                           np.zeros((0, len(self.labels.names)), np.float32))
                else:
                    yield records, skipped, self._probabilities(x, device)

    def _threads(self, device):
        """torch's intra-op threads for the torch path (`sparse_model_threads`); nothing for numpy."""
        if device is None:
            return nullcontext()
        from streamfit.training.tensors import sparse_model_threads, torch_threads

        return torch_threads(sparse_model_threads(self.module))

    @staticmethod
    def _skipped_batch(groups: list[tuple[str, int, np.ndarray]]) -> pa.RecordBatch:
        """`take_skipped`'s groups as one batch (skipped, source, line), sorted by (source, line)."""
        lengths = [len(lines) for _, _, lines in groups]
        causes = pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(np.arange(len(groups), dtype=np.int32), lengths)),
            pa.array([cause for cause, _, _ in groups], pa.string())).dictionary_decode()
        sources = np.repeat(np.array([source for _, source, _ in groups], np.int32), lengths)
        lines = np.concatenate([lines for _, _, lines in groups]) if groups else np.zeros(0, np.int64)
        order = np.lexsort((lines, sources))
        return pa.RecordBatch.from_arrays(
            [causes.take(pa.array(order)), pa.array(sources[order]), pa.array(lines[order])],
            names=["skipped", "source", "line"])

    @staticmethod
    def _row_keys(source, line) -> np.ndarray:
        """One sortable int64 per row: (source, line) in file order."""
        return (np.asarray(source, np.int64) << 40) + np.asarray(line, np.int64)

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


#: The files of a bundle, as `save_bundle` writes them; with `checkpoints`, all a bundle folder holds.
#: (`weights.pt` in place of `weights.npz` for a bundle written before issue 16.)
BUNDLE_FILES = ("bundle.json", "vocabulary.arrow", "features.npz", WEIGHTS_NPZ, WEIGHTS_PT)
_CHECKPOINTS = "checkpoints"
#: bundle.json's fields: `source`, `tokenizer`, `labels`, `features`, `model` and `info`.
_FIELDS = ("format", "source", "tokenizer", "labels", "features", "model", "info")
#: ... and a multi-label bundle's: `multi_label` (true), and `threshold` or `thresholds`.
_MULTI_LABEL_FIELDS = ("multi_label", "threshold", "thresholds")
#: ... and the weights' file (`weights`: "weights.npz"; absent: "weights.pt", an older bundle),
#: and a quantized bundle's encoding of them (`quantized`, `streamfit.inference.quantize`).
_WEIGHTS_FIELDS = ("weights", "quantized")
#: The largest bundle.json read (a real one holds a few kB plus the training history).
_MAX_JSON_BYTES = 64 << 20
_TAMPERED = "the bundle is damaged or was tampered with; train it again or get it again from its maker"


def save_bundle(directory: str | Path, *, tokenizer: Tokenizer, vocabulary: Vocabulary,
                extractor: FeatureExtractor, module: torch.nn.Module, model_kind: str,
                labels: LabelMap, source: dict, info: dict, option: str = "directory",
                multi_label: bool = False, thresholds: float | list[float] | None = None) -> Path:
    """Write a bundle to `directory`, atomically replacing the streamfit bundle there, if any.

    The bundle is written into a locked work folder beside `directory`
    (`streamfit.workspace`), which then takes its place; a run's
    `checkpoints` in `directory` move into the new bundle. The old folder is
    checked again once moved aside (a file added meanwhile puts it back and
    stops the save), so a crash, a kill, a full disk or a file added
    meanwhile never loses anything that streamfit did not write; the work
    folder of a killed save is removed by the next one.

    Args:
        option: the caller's argument that gave `directory`, for messages.
        multi_label: the module has one logit per label, for rows with any
            number of labels (`module.multi_label`).
        thresholds: a multi-label bundle's decision threshold: one number
            for every label (bundle.json's `threshold`), or a list of one per
            label (`thresholds`); each in [0, 1]. None for a single-label one.

    Returns:
        `directory`.

    Raises:
        OptionError: `directory` cannot hold a bundle (see `check_output_dir`),
            or `thresholds` given for a single-label bundle, missing for a
            multi-label one, or not one number in [0, 1] per label.
        UserError: the disk is full (naming the folder and the bytes needed)
            or another write error; the old bundle is left as it was.
    """
    directory = _real_path(Path(directory))
    check_output_dir(directory, option=option)
    table = vocabulary.to_table()
    arrays = extractor.state_dict()
    state = as_arrays(module.state_dict())
    text = json.dumps({
        "format": BUNDLE_FORMAT,
        "source": source,
        "tokenizer": tokenizer.get_config(),
        "labels": labels.names,
        "features": {"name": type(extractor).name, "config": extractor.get_config()},
        "model": {"name": model_kind, "config": module.get_config()},
        "info": info,
        **_multi_label_fields(multi_label, thresholds, len(labels.names)),
        "weights": WEIGHTS_NPZ,
    }, indent=1) + "\n"
    needed = (table.nbytes + sum(np.asarray(a).nbytes for a in arrays.values())
              + sum(a.nbytes for a in state.values()) + len(text.encode()))
    try:
        sweep_stale(directory.parent)  # work folders of earlier runs that were killed
        with Workspace(directory.parent, directory.name) as workspace:
            work = workspace.new
            os.mkdir(work, 0o700)
            with ipc.new_file(str(work / "vocabulary.arrow"), table.schema) as f:
                f.write_table(table)
            np.savez(work / "features.npz", **arrays)
            write_weights(work / WEIGHTS_NPZ, state)
            write_atomic(work / "bundle.json", lambda file: file.write(text.encode()))
            workspace.install(directory, lambda folder: check_output_dir(folder, option=option))
            if (workspace.old / _CHECKPOINTS).is_dir():  # the run's checkpoints stay with its bundle
                os.rename(workspace.old / _CHECKPOINTS, directory / _CHECKPOINTS)
    except (OSError, RuntimeError, pa.ArrowException) as error:
        if isinstance(error, RuntimeError) and not is_disk_full(error):
            raise
        raise _write_error(directory, error, needed) from None
    return directory


def _multi_label_fields(multi_label: bool, thresholds: float | list[float] | None,
                        num_labels: int) -> dict:
    """bundle.json's multi-label fields: none for a single-label bundle.

    Raises:
        OptionError: `thresholds` that do not fit `multi_label` and the labels.
    """
    if not multi_label:
        if thresholds is not None:
            raise OptionError("thresholds", thresholds, "are a multi-label bundle's; give "
                              "multi_label=True, or no thresholds")
        return {}
    if isinstance(thresholds, (list, tuple, np.ndarray)):
        values = [float(t) for t in thresholds]
        if len(values) == num_labels and all(0 <= t <= 1 for t in values):
            return {"multi_label": True, "thresholds": values}
    elif isinstance(thresholds, (int, float, np.floating)) and not isinstance(thresholds, bool) \
            and 0 <= thresholds <= 1:
        return {"multi_label": True, "threshold": float(thresholds)}
    raise OptionError("thresholds", thresholds, f"must be one number in [0, 1], or a list of "
                      f"{num_labels} (one per label), for a multi-label bundle")


def _real_path(directory: Path) -> Path:
    """`directory` with symbolic links resolved: a link to a bundle stays a link to the new one."""
    return directory.resolve() if directory.is_symlink() else directory


def _write_error(directory: Path, error: Exception, needed: int) -> UserError:
    """The one-line error for a failed bundle write."""
    if is_disk_full(error):
        try:
            free = f", {_size(shutil.disk_usage(directory.parent).free)} free"
        except OSError:
            free = ""
        return UserError(f"cannot write the bundle {directory}: no space left on the device (it needs "
                         f"about {_size(needed)}{free}); free space and run again (nothing there "
                         "was changed)")
    reason = getattr(error, "strerror", None) or str(error).splitlines()[0] or type(error).__name__
    return UserError(f"cannot write the bundle {directory} ({reason}); nothing there was changed")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB ({n} bytes)" if n >= 1e6 else f"{n} bytes"


def check_output_dir(directory: Path, option: str = "directory") -> str | None:
    """Fail early, with the fix, when a bundle cannot be written to `directory`.

    The directory may be new, empty, hold only a run's `checkpoints`, or be a
    streamfit bundle, which is then replaced: its bundle.json is streamfit's
    (`format`) and it holds only a bundle's files and `checkpoints`. Anything
    else is the user's and is not touched.

    Args:
        directory: where the bundle goes.
        option: the caller's argument that gave `directory`, for the message
            (the recipe's `output`).

    Returns:
        None, or for a bundle that will be replaced a description of it
        (`mlp, 300 training rows, written 2026-12-02 02:40`).

    Raises:
        OptionError: `directory` is a file, holds files of the user's or
            another program's bundle.json, or cannot be written.
    """
    directory = _real_path(Path(directory))
    if directory.exists() and not directory.is_dir():
        raise OptionError(option, str(directory), "is a file; give a directory for the bundle")
    replaced = None
    if directory.is_dir():
        names = sorted(os.listdir(directory))
        if "bundle.json" in names:
            replaced = _describe_own_bundle(directory, option)
            allowed = {*BUNDLE_FILES, _CHECKPOINTS}
        else:
            allowed = {_CHECKPOINTS}
        foreign = [name for name in names if name not in allowed]
        if foreign and replaced is None:
            raise OptionError(option, str(directory), f"exists and is not a streamfit bundle (it "
                              f"holds {foreign[0]!r}); choose an empty or new directory")
        if foreign:
            raise OptionError(option, str(directory), f"is a streamfit bundle but also holds "
                              f"{foreign[0]!r}, which streamfit did not write, so it is not replaced; "
                              "move that away or choose an empty or new directory")
        for name in names:
            path = directory / name
            if path.is_symlink() or not (path.is_dir() if name == _CHECKPOINTS else path.is_file()):
                raise OptionError(option, str(directory), f"holds {name!r}, which is not what "
                                  "streamfit writes there (a link or another kind of file); move it "
                                  "away or choose an empty or new directory")
    check_writable_parent(directory, option)
    return replaced


def _describe_own_bundle(directory: Path, option: str) -> str:
    """What the streamfit bundle in `directory` is, for saying that it was replaced.

    Raises:
        OptionError: its bundle.json is not a streamfit bundle's.
    """
    path = directory / "bundle.json"
    try:
        meta = _read_json(path)
        if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT or not isinstance(
                meta.get("model"), dict):
            raise UserError("its format is not a streamfit bundle's")
    except UserError:
        raise OptionError(option, str(directory), "holds a bundle.json that is not a streamfit bundle's; "
                          "choose an empty or new directory (streamfit replaces only its own "
                          "bundles)") from None
    info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
    parts = [str(meta["model"].get("name"))]
    if isinstance(info.get("train_rows"), int):
        parts.append(f"{info['train_rows']} training rows")
    parts.append("written " + time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime)))
    return ", ".join(parts)


def _open_own_file(path: Path):
    """`path` opened for reading; a symbolic link or anything but a regular file is refused."""
    try:
        return open_regular(path)
    except UserError as error:
        raise UserError(f"{error}; {_TAMPERED}") from None


def _read_json(path: Path):
    with _open_own_file(path) as file:
        data = file.read(_MAX_JSON_BYTES + 1)
    if len(data) > _MAX_JSON_BYTES:
        raise UserError(f"{path}: larger than {_MAX_JSON_BYTES >> 20} MB, which no bundle.json is; "
                        f"{_TAMPERED}")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error}); {_TAMPERED}") from None


def load_bundle(directory: str | Path) -> Bundle:
    """Load a bundle without executing code from it, trusting nothing in it.

    Every field of bundle.json is checked, and the model's declared shapes
    are compared with the arrays in weights.npz (the tensors of an older
    bundle's weights.pt) before anything is built, so a damaged or hostile
    bundle costs neither memory nor time. Files that are symbolic links are
    refused. An mlp or fasttext bundle with weights.npz loads without
    importing torch.

    Raises:
        UserError: the directory is not a bundle, or a file is truncated or
            tampered with; one line naming the file and the field.
    """
    directory = Path(directory)
    meta_path = directory / "bundle.json"
    if not meta_path.exists() and not meta_path.is_symlink():
        raise UserError(f"{directory}: not a streamfit bundle (no bundle.json); give the output "
                        "directory of a training run (`streamfit train`, `train_text_classifier`)")
    meta = _read_json(meta_path)
    meta = _check_meta(meta_path, meta)
    tokenizer = _tokenizer(meta_path, meta["tokenizer"])
    vocabulary = _vocabulary(directory / "vocabulary.arrow")
    extractor = _extractor(meta_path, directory / "features.npz", meta["features"])
    weights, module = _weights(meta_path, directory, meta, extractor)
    thresholds = meta.get("thresholds", meta.get("threshold"))
    if thresholds is not None:
        thresholds = np.broadcast_to(np.asarray(thresholds, np.float64),
                                     (len(meta["labels"]),)).copy()
    bundle = Bundle(tokenizer=tokenizer, vocabulary=vocabulary, extractor=extractor,
                    model_kind=meta["model"]["name"], weights=weights,
                    config=dict(meta["model"]["config"]), labels=LabelMap(meta["labels"]),
                    source=meta["source"], info=meta.get("info", {}),
                    multi_label=meta["multi_label"], thresholds=thresholds, meta=meta, _module=module)
    try:  # one short text through it all: what the checks above cannot see fails here, not later
        bundle._probabilities(bundle.featurize(pa.array(["a test text"])), bundle._device("cpu"))
    except (RuntimeError, IndexError, ValueError, TypeError, KeyError, pa.ArrowException) as error:
        raise UserError(f"{directory}: the files do not fit together ({_first_line(error)}); "
                        f"{_TAMPERED}") from None
    return bundle


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_meta(path: Path, meta) -> dict:
    """bundle.json's fields, each of the right kind.

    Raises:
        UserError: an unknown or missing field, or one of the wrong kind.
    """
    if not isinstance(meta, dict):
        raise UserError(f"{path}: holds a {type(meta).__name__}, not a bundle's fields; {_TAMPERED}")
    if meta.get("format") != BUNDLE_FORMAT:
        raise UserError(f"{path}: bundle format {meta.get('format')!r} is not "
                        f"{BUNDLE_FORMAT}; retrain with this version of streamfit")
    known = _FIELDS + _MULTI_LABEL_FIELDS + _WEIGHTS_FIELDS
    unknown = [key for key in meta if key not in known]
    if unknown:
        raise UserError(f"{path}: unknown field {unknown[0]!r} (a bundle has "
                        f"{', '.join(known)}); {_TAMPERED}")
    meta = {"info": {}, **meta}
    for key in _FIELDS[1:]:
        if key not in meta:
            raise UserError(f"{path}: the field {key!r} is missing; {_TAMPERED}")
        kind = list if key == "labels" else dict
        if not isinstance(meta[key], kind):
            raise UserError(f"{path}: the field {key!r} is a {type(meta[key]).__name__}, not a "
                            f"{kind.__name__}; {_TAMPERED}")
    for key in ("features", "model"):
        part = meta[key]
        if set(part) != {"name", "config"} or not isinstance(part["name"], str) or not isinstance(
                part["config"], dict):
            raise UserError(f"{path}: the field {key!r} must hold a name and a config, and holds "
                            f"{sorted(part)}; {_TAMPERED}")
    labels = meta["labels"]
    if len(labels) < 2 or not all(isinstance(label, str) for label in labels) or len(set(labels)) < len(labels):
        raise UserError(f"{path}: the field 'labels' must list two or more distinct class names; "
                        f"{_TAMPERED}")
    _check_source(path, meta["source"])
    _check_multi_label(path, meta)
    meta.setdefault("multi_label", False)
    weights = meta.setdefault("weights", WEIGHTS_PT)
    if weights not in (WEIGHTS_NPZ, WEIGHTS_PT):
        raise UserError(f"{path}: the field 'weights' is {weights!r}, not {WEIGHTS_NPZ!r} or "
                        f"{WEIGHTS_PT!r}; {_TAMPERED}")
    if "quantized" in meta and (weights != WEIGHTS_NPZ or not isinstance(meta["quantized"], dict)):
        raise UserError(f"{path}: the field 'quantized' must be an object, beside "
                        f"'weights': {WEIGHTS_NPZ!r}; {_TAMPERED}")
    return meta


def _check_multi_label(path: Path, meta: dict) -> None:
    """A multi-label bundle's fields: `multi_label`, the model's alike, one threshold or one per label.

    A bundle written before multi-label models (no `multi_label`) is single-label.

    Raises:
        UserError: a field of the wrong kind, thresholds outside [0, 1] or of a
            single-label bundle, or a model config that says otherwise.
    """
    multi_label = meta.get("multi_label", False)
    if not isinstance(multi_label, bool):
        raise UserError(f"{path}: the field 'multi_label' is {multi_label!r}, not true or false; "
                        f"{_TAMPERED}")
    given = [key for key in ("threshold", "thresholds") if key in meta]
    if not multi_label and given:
        raise UserError(f"{path}: the field {given[0]!r} belongs to a multi-label bundle, and "
                        f"'multi_label' is not true; {_TAMPERED}")
    if multi_label:
        if len(given) != 1:
            raise UserError(f"{path}: a multi-label bundle holds one of the fields 'threshold' and "
                            f"'thresholds', and this one holds {given or 'neither'}; {_TAMPERED}")
        value = meta[given[0]]
        values = value if given[0] == "thresholds" and isinstance(value, list) else [value]
        if (given[0] == "thresholds" and (not isinstance(value, list)
                                          or len(value) != len(meta["labels"]))) or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1
                for t in values):
            what = (f"a list of {len(meta['labels'])} numbers (one per label)"
                    if given[0] == "thresholds" else "a number")
            raise UserError(f"{path}: the field {given[0]!r} must be {what} in [0, 1]; {_TAMPERED}")
    modelled = meta["model"]["config"].get("multi_label", False)
    if modelled != multi_label:
        raise UserError(f"{path}: model.config.multi_label={modelled!r} does not match the "
                        f"bundle's multi_label={multi_label!r}; {_TAMPERED}")


def _check_source(path: Path, source: dict) -> None:
    options = dict(source)
    if isinstance(options.get("text"), list):
        options["text"] = tuple(options["text"])
    known = {field.name for field in dataclasses.fields(SourceSpec)} - {"paths"}
    unknown = [key for key in options if key not in known]
    if unknown:
        raise UserError(f"{path}: unknown field 'source.{unknown[0]}' (a source has "
                        f"{', '.join(sorted(known))}); {_TAMPERED}")
    try:
        SourceSpec(paths=("-",), **options)
        if "encoding" in options:
            codecs.lookup(options["encoding"])
    except OptionError as error:
        raise UserError(f"{path}: source.{error.option}={error.value!r} {error.problem}; "
                        f"{_TAMPERED}") from None
    except (TypeError, ValueError, LookupError) as error:
        raise UserError(f"{path}: the field 'source' is not a source's options ({_first_line(error)}); "
                        f"{_TAMPERED}") from None


def _tokenizer(path: Path, config: dict) -> Tokenizer:
    """The tokenizer of `config`, its pattern compiled once to check it."""
    known = {"lowercase": bool, "pattern": str}
    for key, value in config.items():
        if key not in known:
            raise UserError(f"{path}: unknown field 'tokenizer.{key}' (a tokenizer has "
                            f"{', '.join(known)}); {_TAMPERED}")
        if not isinstance(value, known[key]):
            raise UserError(f"{path}: tokenizer.{key}={value!r} is no {known[key].__name__}; {_TAMPERED}")
    tokenizer = Tokenizer(**config)
    try:
        tokenizer(pa.array(["a test"]))
    except pa.ArrowException as error:
        raise UserError(f"{path}: tokenizer.pattern={tokenizer.pattern!r} is no regular expression "
                        f"RE2 accepts ({_first_line(error)}); {_TAMPERED}") from None
    return tokenizer


def _vocabulary(path: Path) -> Vocabulary:
    try:
        with _open_own_file(path) as file:
            table = ipc.open_file(file).read_all()
    except (pa.ArrowException, OSError) as error:
        raise UserError(f"{path}: not an Arrow file ({_first_line(error)}); {_TAMPERED}") from None
    word, df = (table.schema.field(name).type if name in table.schema.names else None
                for name in ("word", "df"))
    if word is None or not (pa.types.is_string(word) or pa.types.is_large_string(word)) or (
            df is None or not pa.types.is_integer(df)) or table["word"].null_count:
        raise UserError(f"{path}: needs the columns word (strings) and df (integers), and has "
                        f"{table.schema}".replace("\n", ", ") + f"; {_TAMPERED}")
    return Vocabulary.from_table(table)


def _extractor(meta_path: Path, path: Path, features: dict) -> FeatureExtractor:
    try:
        extractor = build_extractor(features["name"], features["config"])
    except OptionError as error:
        field = "features.name" if error.option == "name" else f"features.config.{error.option}"
        raise UserError(f"{meta_path}: {field}={error.value!r} {error.problem}; {_TAMPERED}") from None
    except (TypeError, ValueError) as error:
        raise UserError(f"{meta_path}: the field 'features.config' does not fit the "
                        f"{features['name']} extractor ({_first_line(error)}); {_TAMPERED}") from None
    try:
        with _open_own_file(path) as file, np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: not a readable array file ({_first_line(error)}); {_TAMPERED}") from None
    try:
        extractor.load_state_dict(arrays)
        width = extractor.num_features
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    except (TypeError, ValueError) as error:
        raise UserError(f"{path}: does not fit the extractor of bundle.json ({_first_line(error)}); "
                        f"{_TAMPERED}") from None
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise UserError(f"{path}: gives the extractor {width!r} features; {_TAMPERED}")
    return extractor


#: The model config's argument that must equal the extractor's `num_features`.
_INPUT_WIDTH = {"mlp": "num_features", "fasttext": "num_features", "sepcnn": "num_words"}


def _weights(meta_path: Path, directory: Path, meta: dict, extractor: FeatureExtractor,
             ) -> tuple[dict[str, np.ndarray], Any]:
    """The model's weights as arrays, their declared shapes checked before anything is read.

    A bag model's config is checked without torch (`inference.forward.declared_shapes`); a
    sepCNN's, or an older bundle's weights.pt, with torch, which then also builds the module.

    Returns:
        (the state dict as numpy arrays, the torch module or None when none was needed).
    """
    model, labels = meta["model"], meta["labels"]
    name, config = model["name"], model["config"]
    if config.get("num_classes") != len(labels):
        raise UserError(f"{meta_path}: model.config.num_classes={config.get('num_classes')!r} does "
                        f"not match the {len(labels)} names of 'labels'; {_TAMPERED}")
    width = _INPUT_WIDTH.get(name)
    if width is not None and config.get(width) != extractor.num_features:
        raise UserError(f"{meta_path}: model.config.{width}={config.get(width)!r} is not the "
                        f"{extractor.num_features} features of features.npz; {_TAMPERED}")
    if name not in _INPUT_WIDTH:
        raise UserError(f"{meta_path}: model.name={name!r} is unknown; use one of "
                        f"{', '.join(_INPUT_WIDTH)}; {_TAMPERED}")
    declared_by = f"{meta_path.name}'s model.config"
    shapes = None
    if name in forward.BAG_KINDS:
        try:
            shapes = forward.declared_shapes(name, config)
        except OptionError as error:
            raise UserError(f"{meta_path}: model.config.{error.option}={error.value!r} {error.problem}; "
                            f"{_TAMPERED}") from None
        except TypeError as error:
            raise UserError(f"{meta_path}: the field 'model.config' does not fit the {name} model "
                            f"({_first_line(error)}); {_TAMPERED}") from None
    if meta["weights"] == WEIGHTS_PT:
        return _torch_weights(meta_path, directory / WEIGHTS_PT, name, config, shapes)
    try:
        weights = read_weights(directory, meta, shapes=shapes, declared_by=declared_by)
    except UserError as error:
        raise UserError(f"{error}; {_TAMPERED}") from None
    if shapes is not None:
        return weights, None
    return weights, _build_module(meta_path, directory / WEIGHTS_NPZ, name, config, weights)


def _torch_weights(meta_path: Path, path: Path, name: str, config: dict,
                   shapes: dict | None) -> tuple[dict[str, np.ndarray], Any]:
    """An older bundle's weights.pt, read with torch.load(weights_only=True), checked."""
    from streamfit.training.saving import load_weights

    with _open_own_file(path) as file:
        try:
            state = load_weights(file)
        except UserError as error:
            raise UserError(f"{path}: {error}; {_TAMPERED}") from None
    if shapes is None:
        module = _build_module(meta_path, path, name, config, state)
        return as_arrays(module.state_dict()), module
    try:
        check_shapes(shapes, {key: tuple(value.shape) for key, value in state.items()},
                     f"{meta_path.name}'s model.config", path.name)
    except UserError as error:
        raise UserError(f"{meta_path}: {error}; {_TAMPERED}") from None
    weights = as_arrays(state)
    wrong = [key for key, array in weights.items() if array.dtype != np.float32]
    if wrong:
        raise UserError(f"{path}: holds {wrong[0]} as {weights[wrong[0]].dtype}, not float32; {_TAMPERED}")
    return weights, None


def _build_module(meta_path: Path, path: Path, name: str, config: dict, state: dict):
    """The torch module of `config` (a sepCNN), its shapes checked on the meta device first."""
    import torch

    from streamfit.models import build_model
    from streamfit.training.saving import check_weights_fit

    def build() -> torch.nn.Module:
        return build_model(name, **config)

    try:
        check_weights_fit(build, state, f"{meta_path.name}'s model.config", path.name)
        module = build()
        module.load_state_dict({key: torch.as_tensor(value) for key, value in state.items()})
    except OptionError as error:
        field_name = "model.name" if error.option == "model_kind" else f"model.config.{error.option}"
        raise UserError(f"{meta_path}: {field_name}={error.value!r} {error.problem}; "
                        f"{_TAMPERED}") from None
    except UserError as error:
        raise UserError(f"{meta_path}: {error}; {_TAMPERED}") from None
    except (TypeError, ValueError, RuntimeError) as error:
        raise UserError(f"{meta_path}: the field 'model.config' does not fit the {name} model "
                        f"({_first_line(error)}); {_TAMPERED}") from None
    return module.eval()
