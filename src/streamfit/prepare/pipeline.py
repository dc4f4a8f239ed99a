"""Prepare a dataset once, train on it many times.

Two streaming passes over the data, each one chunk at a time:

1. Read the sources, tokenize, assign each row to the training or the
   validation split, and count labels, lengths and word document frequencies
   over the training rows. The tokens go to a temporary Arrow file, so the
   text is read and tokenized only once.
2. With the vocabulary fixed, map tokens to word ids, count n-gram document
   frequencies per class (for feature selection) and write the token ids and
   class ids of each split.

**Multi-label** (`SourceSpec.multi_label`: the sources give each row a list
of labels). The manifest says `"multi_label": true`; `classes` in the stats
counts rows per label, and the stats add `label_cardinality` (mean labels
per training row) and `label_sets` (distinct label sets among them, exact up
to `labels.MAX_LABEL_SETS`, else a lower bound with `label_sets_exact`
false). Each split row keeps its class ids as a list (`cache.
MULTI_LABEL_SPLIT_SCHEMA`); a validation label training never saw is dropped
from its row (which stays, noted "unseen_labels_dropped" in the validation
accounting), where a single-label row with one is skipped. N-gram document
frequencies are counted per label sparsely (`counting.
LabelDocFrequencyCounter`), for `ngrams.one_vs_rest_f_score`. Nothing holds
a rows x labels or a (growing) n-grams x labels matrix.

Nothing here holds more than one chunk of rows plus bounded tables (the
counters prune), so memory does not grow with the data.

The dataset is built in a locked work folder beside its cache folder and
renamed into place at the end (`streamfit.prepare.folders`), replacing only
a folder streamfit can prove it wrote (`cache.check_replaceable`). Each cache
file is checksummed as it is written; `load_or_prepare` checks them before it
reuses a cache and rebuilds a damaged one, saying so (`strict` refuses it
instead). A full disk ends in one line naming the folder and the room needed.

Cost of the checks, measured on IMDB grown 10x (250k rows, 388 MB of CSV,
a 331 MB cache) on 2 cores: CRC-32 while writing is lost in the noise of a
16-18 s prepare (the files are byte for byte those written without it);
checking the cache when it is reused takes 0.07 s from the page cache and
0.19 s after dropping it, against 26.7 s for `streamfit train` on the reused
cache: 0.3% to 0.7%. So every open is checked; no verified-once stamp.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from streamfit.errors import UserError, check_number
from streamfit.files import is_disk_full, write_json
from streamfit.prepare.cache import (
    CACHE_FORMAT,
    MANIFEST,
    CacheDamaged,
    Checksums,
    PreparedSplit,
    SplitWriter,
    check_replaceable,
    has_marker,
    load_npz,
    read_manifest,
    verify_contents,
    write_marker,
)
from streamfit.prepare.counting import DocFrequencyCounter, LabelDocFrequencyCounter
from streamfit.prepare.folders import cache_root, check_private, make_private_root
from streamfit.prepare.labels import LabelCounter, LabelMap, LabelSetCounter, sort_labels
from streamfit.prepare.ngrams import NgramCounts, doc_ngram_keys
from streamfit.prepare.parallel import ordered_map
from streamfit.prepare.split import validation_mask
from streamfit.prepare.stats import LengthStats, samples_per_word_ratio
from streamfit.prepare.tokenize import Tokenizer
from streamfit.prepare.vocabulary import Vocabulary
from streamfit.sources import RowAccounting, SourceSpec, iter_records, resolve_paths
from streamfit.workspace import Workspace, sweep_stale


def _tokens_schema(multi_label: bool) -> pa.Schema:
    label = pa.list_(pa.string()) if multi_label else pa.string()
    return pa.schema([("tokens", pa.list_(pa.string())), ("label", label), ("source", pa.int32()),
                      ("line", pa.int64()), ("validation", pa.bool_())])


_TOKENS_SCHEMA = _tokens_schema(False)
#: Bytes of counting table the n-gram counter may hold before it prunes: about
#: the 1.5M distinct 1-2 grams of IMDB's 25k reviews, so a corpus ten times
#: larger costs no more memory.
_NGRAM_TABLE_BYTES = 64 << 20


@dataclass(frozen=True)
class PrepareOptions:
    """Options of the prepare layer (what changes them rebuilds the cache).

    Args:
        lowercase: fold case before tokenizing.
        min_df: words in fewer training documents are out of vocabulary.
        max_words: the most words the vocabulary keeps (most frequent first).
        ngram_range: n-gram orders counted for feature selection.
        validation_split: fraction of rows held out for validation (0 for none).
        seed: seed of the validation split.
    """

    lowercase: bool = True
    min_df: int = 2
    max_words: int = (1 << 20) - 2
    ngram_range: tuple[int, int] = (1, 2)
    validation_split: float = 0.0
    seed: int = 0

    def __post_init__(self):
        check_number("validation_split", self.validation_split, minimum=0, below=1, integer=False)
        check_number("min_df", self.min_df, minimum=1)
        check_number("max_words", self.max_words, minimum=1)
        # The validation split mixes the seed as a uint64.
        check_number("seed", self.seed, minimum=0, below=2 ** 64)


@dataclass
class PreparedDataset:
    """A prepared dataset: splits of token ids, vocabulary, labels, statistics."""

    directory: Path
    manifest: dict
    vocabulary: Vocabulary
    labels: LabelMap
    train: PreparedSplit
    validation: PreparedSplit | None
    reused: bool = False
    _ngrams: NgramCounts | None = field(default=None, repr=False)

    @property
    def stats(self) -> dict:
        return self.manifest["stats"]

    @property
    def multi_label(self) -> bool:
        """Whether rows hold any number of labels (the splits' targets are label lists)."""
        return bool(self.manifest.get("multi_label", False))

    @property
    def class_counts(self) -> np.ndarray:
        """int64 `[num_classes]`: training rows per class (multi-label: rows holding each label)."""
        classes = self.stats["classes"]
        return np.array([classes[name] for name in self.labels.names], dtype=np.int64)

    @property
    def ngram_counts(self) -> NgramCounts:
        if self._ngrams is None:
            data = load_npz(self.directory / "ngrams.npz")
            ngram_range = tuple(self.manifest["options"]["ngram_range"])
            try:
                if self.multi_label:
                    import scipy.sparse  # noqa: PLC0415 (only multi-label needs it)

                    class_df = scipy.sparse.csr_matrix(
                        (data["label_df"], data["label_df_labels"], data["label_df_indptr"]),
                        shape=(len(data["keys"]), len(self.labels)))
                    self._ngrams = NgramCounts(
                        vocab_size=len(self.vocabulary), ngram_range=ngram_range, keys=data["keys"],
                        class_df=class_df, class_counts=data["class_counts"], df=data["df"],
                        documents=int(data["documents"]))
                else:
                    self._ngrams = NgramCounts(
                        vocab_size=len(self.vocabulary), ngram_range=ngram_range, keys=data["keys"],
                        class_df=data["class_df"], class_counts=data["class_counts"])
            except (KeyError, ValueError, TypeError) as error:
                raise CacheDamaged(self.directory, f"ngrams.npz does not hold the n-gram counts ({error})",
                                   "prepare it again (`streamfit prepare` with the same data)") from None
        return self._ngrams


def _as_json(value):
    """`value` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def source_identity(spec: SourceSpec) -> list[dict]:
    """Path, size and modification time of every file of a source, as its reader resolves them."""
    out = []
    for path in resolve_paths(spec.paths, spec.format):
        st = os.stat(path)
        out.append({"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def _spec_options(spec: SourceSpec) -> dict:
    options = dataclasses.asdict(spec)
    for name in ("paths", "strict", "id"):  # where the files are, how bad rows end, predict's ids
        options.pop(name)
    return _as_json(options)


def cache_key(spec: SourceSpec, options: PrepareOptions, validation: SourceSpec | None) -> dict:
    """Everything a prepared dataset depends on; equal keys mean a reusable cache."""
    return {
        "format": CACHE_FORMAT,
        "sources": source_identity(spec),
        "source_options": _spec_options(spec),
        "validation_sources": source_identity(validation) if validation else None,
        "validation_options": _spec_options(validation) if validation else None,
        "options": _as_json(dataclasses.asdict(options)),
    }


def default_cache_dir(key: dict) -> Path:
    """The default folder of a dataset: one per data and options under `folders.cache_root()`."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / digest


def load_or_prepare(spec: SourceSpec, options: PrepareOptions, cache_dir: str | Path | None = None,
                    validation: SourceSpec | None = None, progress=None) -> PreparedDataset:
    """Open the prepared dataset in `cache_dir` if it matches and is whole, else prepare it there.

    A cache whose files fail their checksums (or whose manifest cannot be
    read) is rebuilt, and `progress` is told so in one line naming the folder
    and the problem; with `spec.strict` it is refused instead.

    Args:
        spec: the training data.
        options: prepare options.
        cache_dir: the folder of this one prepared dataset (created if absent;
            replaced only when it holds a prepared dataset or nothing); None
            for a folder of its own under the default root
            (`$STREAMFIT_CACHE` or `~/.cache/streamfit`).
        validation: separate validation data, prepared with the training vocabulary.
        progress: optional callable(str) told what each pass is doing.

    Returns:
        The prepared dataset; `reused` says whether the cache was reused.

    Raises:
        UserError: the folder is another user's or writable by others, holds
            files streamfit did not write, is damaged under `strict`, or the
            disk filled up.
    """
    key = cache_key(spec, options, validation)
    if cache_dir:
        directory = Path(cache_dir)
    else:
        directory = default_cache_dir(key)
        make_private_root(directory.parent)
    check_private(directory)
    say = progress or (lambda message: None)
    manifest, problem = read_manifest(directory)
    if manifest is None and not (directory.exists() and has_marker(directory)):
        problem = None  # nothing there, or a format-1 cache: not damage, just not reusable
    if manifest is not None and manifest.get("key") == key:
        try:
            dataset = open_prepared(directory)
        except CacheDamaged as damage:
            problem = damage.problem
        else:
            dataset.reused = True
            return dataset
    if problem is not None:
        if spec.strict:
            raise UserError(f"{directory}: the prepared dataset is damaged ({problem}); run without "
                            "strict to rebuild it, or delete the folder")
        say(f"{directory}: the prepared dataset is damaged ({problem}); rebuilding it")
    prepare(spec, options, directory, validation=validation, key=key, progress=progress)
    # Hand back what Arrow's allocator kept from the passes, before training allocates.
    pa.default_memory_pool().release_unused()
    return open_prepared(directory, verify=False)


def open_prepared(directory: str | Path, verify: bool = True) -> PreparedDataset:
    """Open a prepared dataset written by `prepare`.

    Args:
        directory: the dataset's folder.
        verify: check every file against the size and checksum in the
            manifest first (one read of each file). False only for a dataset
            this process (or its own child) has just written or checked.

    Raises:
        UserError: no prepared dataset is there, or the folder is not private.
        CacheDamaged: (a UserError) a file is missing, damaged or unreadable.
    """
    directory = Path(directory)
    check_private(directory)
    manifest, problem = read_manifest(directory)
    if manifest is None:
        if directory.exists() and has_marker(directory):
            raise CacheDamaged(directory, problem, "prepare it again (`streamfit prepare` with the same data)")
        raise UserError(f"{directory}: not a prepared dataset ({problem}); "
                        "run `streamfit prepare` to build it")
    fix = "prepare it again (`streamfit prepare` with the same data), which replaces it"
    if verify and (problem := verify_contents(directory, manifest)):
        raise CacheDamaged(directory, problem, fix)
    try:
        vocabulary = Vocabulary.from_table(ipc.open_file(str(directory / "vocabulary.arrow")).read_all())
        labels = LabelMap(manifest["labels"])
        multi_label = bool(manifest.get("multi_label", False))
        splits = {}
        for name in ("train", "validation"):
            if name == "validation" and "validation.arrow" not in manifest["contents"]:
                continue
            split = PreparedSplit(directory / f"{name}.arrow", num_classes=len(labels))
            if split.multi_label != multi_label:
                raise CacheDamaged(directory, f"{name}.arrow holds {'label lists' if split.multi_label else 'one label per row'}"
                                   f" but {MANIFEST} says multi_label is {str(multi_label).lower()}", fix)
            splits[name] = split
        return PreparedDataset(
            directory=directory, manifest=manifest, vocabulary=vocabulary, labels=labels,
            train=splits["train"], validation=splits.get("validation"))
    except UserError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError, TypeError) as error:
        raise CacheDamaged(directory, f"{type(error).__name__}: {error}", fix) from None


def prepare(spec: SourceSpec, options: PrepareOptions, directory: str | Path,
            validation: SourceSpec | None = None, key: dict | None = None, progress=None) -> Path:
    """Build a prepared dataset in `directory`, replacing a prepared dataset that is there.

    The dataset is built in a locked work folder beside `directory` and
    renamed into place at the end, so an interrupted run never leaves a
    half-written cache (and the next run removes its work folder). Work
    folders of dead runs in the same parent are removed first.

    Raises:
        UserError: `directory` holds something streamfit did not write (it is
            left alone), is not private, or the disk filled up (nothing is
            left behind and the old dataset stays).
    """
    directory = Path(directory)
    key = key or cache_key(spec, options, validation)
    check_private(directory)
    check_replaceable(directory)  # before the work, not after
    directory.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(directory.parent)
    before = _manifest_stamp(directory)
    with Workspace(directory.parent, directory.name) as workspace:
        build = workspace.new
        try:
            os.mkdir(build, 0o700)
            checksums = Checksums()
            manifest = _build(spec, options, build, validation, progress or (lambda message: None), checksums)
            manifest["key"] = key
            manifest["contents"] = checksums.contents
            write_marker(build)
            write_json(build / MANIFEST, manifest)
        except OSError as error:
            if not is_disk_full(error):
                raise
            written = _folder_bytes(workspace.path)
            needed = 2 * sum(f["size"] for f in key["sources"] + (key["validation_sources"] or []))
            raise UserError(
                f"{directory.parent}: no space left on the device while preparing {directory.name} "
                f"({_size(written)} written; preparing needs about {_size(needed)}, twice the input); "
                "free space there or give the cache a folder on another disk") from None
        if _manifest_stamp(directory) not in (before, None):
            theirs, _ = read_manifest(directory)
            if theirs is not None and theirs.get("key") == key:
                return directory  # another process installed the same dataset meanwhile: keep it
        workspace.install(directory, check_replaceable)
    return directory


def _manifest_stamp(directory: Path) -> tuple[int, int, int] | None:
    """Which manifest file `directory` holds now (to notice one installed meanwhile)."""
    try:
        st = os.stat(directory / MANIFEST)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _build(spec, options, work: Path, validation_spec, progress, checksums: Checksums) -> dict:
    tokenizer = Tokenizer(lowercase=options.lowercase)
    multi_label = spec.multi_label
    tokens_schema = _tokens_schema(multi_label)
    accounting = RowAccounting(strict=spec.strict)
    progress("reading and tokenizing")
    words = DocFrequencyCounter(1)
    train_labels, validation_labels = LabelCounter(), LabelCounter()
    lengths = LengthStats()
    tokens_path = work / "tokens.arrow"

    def tokenize(item):  # on worker threads: no shared state is touched
        batch, held_out = item
        tokens = tokenizer(batch.column("text"))
        train_tokens = tokens.filter(pa.array(~held_out)) if held_out.any() else tokens
        counted = words.count_chunk(pc.list_flatten(train_tokens),
                                    np.asarray(pc.list_parent_indices(train_tokens), dtype=np.int64))
        return batch, held_out, tokens, train_tokens, counted

    split = options.validation_split, options.seed
    with ipc.new_file(str(tokens_path), tokens_schema) as tokens_file:
        for batch, held_out, tokens, train_tokens, counted in ordered_map(
                tokenize, _assign_split(iter_records(spec, accounting), *split)):
            words.add(*counted)
            lengths.update(train_tokens)
            label_column = _label_column(batch, multi_label)
            train_labels.update(label_column.filter(pa.array(~held_out)))
            if held_out.any():
                validation_labels.update(label_column.filter(pa.array(held_out)))
            tokens_file.write_batch(pa.record_batch(
                [tokens, label_column, batch.column("source"), batch.column("line"),
                 pa.array(held_out)], schema=tokens_schema))
    if accounting.rows_used == 0:
        raise UserError(f"{', '.join(spec.paths)}: no usable rows ({accounting.summary()}); "
                        "check the text and label columns and the file format")
    labels = train_labels.label_map()
    if not len(labels):  # multi-label rows may all hold an empty list
        raise UserError(f"{', '.join(spec.paths)}: the training rows hold no labels (every label "
                        "list is empty); check the label column and --label-sep")
    if len(labels) < 2:
        raise UserError(f"{', '.join(spec.paths)}: the training rows have only one label "
                        f"({labels.names[0]!r}); a classifier needs at least two")
    values, df = words.result()
    vocabulary = Vocabulary.from_counts(values, df[:, 0], min_df=options.min_df, max_words=options.max_words)
    with checksums.open(work / "vocabulary.arrow") as file, \
            ipc.new_file(file, vocabulary.to_table().schema) as f:
        f.write_table(vocabulary.to_table())

    progress("writing token ids")
    num_classes = len(labels)
    if multi_label:
        ngrams = LabelDocFrequencyCounter(num_classes, max_cells=_NGRAM_TABLE_BYTES // 16)
        label_sets = LabelSetCounter()
    else:
        ngrams = DocFrequencyCounter(num_classes, max_entries=_NGRAM_TABLE_BYTES // (8 * (num_classes + 2)))
    held_out_accounting = RowAccounting(strict=spec.strict)
    held_out_accounting.files = accounting.files
    train_writer = SplitWriter(work / "train.arrow", checksums, multi_label=multi_label)
    validation_writer = None
    if options.validation_split > 0 or validation_spec is not None:
        validation_writer = SplitWriter(work / "validation.arrow", checksums, multi_label=multi_label)
    n_min, n_max = options.ngram_range

    def encode(batch):  # on worker threads: no shared state is touched
        offsets, ids = vocabulary.lookup(batch.column("tokens"))
        class_ids = _encode_labels(labels, batch.column("label"), multi_label)
        held_out = np.asarray(batch.column("validation"), dtype=bool)
        train_rows = np.flatnonzero(~held_out)
        t_offsets, t_ids = _select_rows(offsets, ids, train_rows)
        row_of_key, keys = doc_ngram_keys(t_offsets, t_ids, n_min, n_max, len(vocabulary))
        if multi_label:
            t_labels = _select_rows(*class_ids[:2], train_rows)
            counted = ngrams.count_chunk(keys, row_of_key, *t_labels)
        else:
            t_labels = class_ids[train_rows]
            counted = ngrams.count_chunk(pa.array(keys), row_of_key, t_labels)
        return batch, offsets, ids, class_ids, held_out, (t_offsets, t_ids, t_labels), counted

    # Plain reads, not a memory map: mapped pages once touched count towards the
    # resident set and would grow with the data.
    with pa.OSFile(str(tokens_path)) as source:
        reader = ipc.open_file(source)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        for batch, offsets, ids, class_ids, held_out, train, counted in ordered_map(encode, batches):
            ngrams.add(*counted)
            train_writer.write(*train)
            if multi_label:
                label_sets.update(*train[2])
            if held_out.any():
                rows = np.flatnonzero(held_out)
                held_out_accounting.rows_read += len(rows)
                held_out_accounting.rows_used += len(rows)
                _write_known(validation_writer, offsets, ids, class_ids, rows, batch, held_out_accounting)
    tokens_path.unlink()
    train_writer.close()
    if validation_spec is not None:
        progress("preparing the validation data")
        held_out_accounting = RowAccounting(strict=validation_spec.strict)
        for batch in iter_records(validation_spec, held_out_accounting):
            offsets, ids = vocabulary.lookup(tokenizer(batch.column("text")))
            class_ids = _encode_labels(labels, _label_column(batch, multi_label), multi_label)
            _write_known(validation_writer, offsets, ids, class_ids, np.arange(batch.num_rows),
                         batch, held_out_accounting)
    if validation_writer is not None:
        validation_writer.close()

    class_counts = np.array([train_labels.counts[name] for name in labels.names], dtype=np.int64)
    if multi_label:
        keys, df, indptr, label_ids, label_df = ngrams.result()
        arrays = {"keys": keys, "df": df, "label_df_indptr": indptr, "label_df_labels": label_ids,
                  "label_df": label_df, "documents": np.int64(train_writer.rows)}
    else:
        keys, class_df = ngrams.result()
        arrays = {"keys": np.asarray(keys, dtype=np.int64), "class_df": class_df}
    with checksums.open(work / "ngrams.npz") as file:
        np.savez(file, **arrays, class_counts=class_counts)
    median = lengths.median()
    stats = {
        "train_rows": train_writer.rows,
        "validation_rows": validation_writer.rows if validation_writer else 0,
        "classes": {name: train_labels.counts[name] for name in labels.names},
        "validation_classes": _ordered(validation_labels.counts),
        "median_words_per_sample": median,
        "max_words_per_sample": lengths.max_length,
        "samples_per_word_ratio": samples_per_word_ratio(train_writer.rows, median),
        "vocabulary_size": len(vocabulary),
        "ngram_candidates": len(keys),
        "ngram_pruned_max_df": ngrams.pruned_max_df,
        "word_pruned_max_df": words.pruned_max_df,
    }
    manifest = {"format": CACHE_FORMAT}
    if multi_label:  # a single-label manifest stays as it was: no key means single-label
        manifest["multi_label"] = True
        stats["label_cardinality"] = train_labels.labels / max(train_writer.rows, 1)
        stats["label_sets"] = label_sets.count
        if not label_sets.exact:
            stats["label_sets_exact"] = False
    return {
        **manifest,
        "files": accounting.files,
        "accounting": accounting.to_dict(),
        "validation_accounting": held_out_accounting.to_dict(),
        "labels": labels.names,
        "tokenizer": tokenizer.get_config(),
        "options": _as_json(dataclasses.asdict(options)),
        "stats": stats,
    }


def _assign_split(batches, fraction: float, seed: int):
    """Pair each batch with its validation mask; rows are numbered in file order."""
    row = 0
    for batch in batches:
        yield batch, validation_mask(row, batch.num_rows, fraction, seed)
        row += batch.num_rows


def _ordered(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts[name] for name in sort_labels(counts)}


def _select_rows(offsets: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR rows `rows` of (offsets, ids), as a new (offsets, ids)."""
    if len(rows) == len(offsets) - 1:
        return offsets, ids
    lengths = np.diff(offsets)[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    positions = np.repeat(offsets[rows] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return new_offsets, ids[positions]


def _label_column(batch: pa.RecordBatch, multi_label: bool) -> pa.Array:
    """The batch's labels: a list of strings per row in multi-label mode, else a string.

    In multi-label mode a plain string column (a source read without
    multi_label) is taken as one label per row (a null: none).
    """
    column = batch.column("label")
    if multi_label and not pa.types.is_list(column.type):
        column = column.cast(pa.string())
        present = np.asarray(column.is_valid(), dtype=bool)
        offsets = np.zeros(len(column) + 1, dtype=np.int32)
        np.cumsum(present, out=offsets[1:])
        column = pa.ListArray.from_arrays(pa.array(offsets), column.drop_null())
    elif multi_label and column.type != pa.list_(pa.string()):
        column = column.cast(pa.list_(pa.string()))
    return column


def _encode_labels(labels: LabelMap, column: pa.Array, multi_label: bool):
    """Class ids per row, or in multi-label mode `encode_lists`' `(offsets, ids, unknown)`."""
    return labels.encode_lists(column) if multi_label else labels.encode(column)


def _write_known(writer, offsets, ids, class_ids, rows, batch, accounting: RowAccounting) -> None:
    """Write `rows` (counted as used) whose label training saw.

    A row whose label training never saw is not mapped to some class: it is
    taken back from the used rows and skipped as `unseen_label`, with its
    location, so the report shows it. A multi-label row (`class_ids` is then
    `encode_lists`' result) keeps its place: its unseen labels were dropped
    from its set, and are noted as "unseen_labels_dropped".
    """
    if isinstance(class_ids, tuple):
        label_offsets, label_ids, unknown = class_ids
        # Training rows never hold a label unseen in training: all `unknown` are in `rows`.
        accounting.note("unseen_labels_dropped", unknown)
        v_offsets, v_ids = _select_rows(offsets, ids, rows)
        writer.write(v_offsets, v_ids, _select_rows(label_offsets, label_ids, rows))
        return
    unknown = rows[class_ids[rows] < 0]
    if len(unknown):
        accounting.reject("unseen_label", np.asarray(batch.column("source"))[unknown],
                          np.asarray(batch.column("line"))[unknown])
        rows = rows[class_ids[rows] >= 0]
    v_offsets, v_ids = _select_rows(offsets, ids, rows)
    writer.write(v_offsets, v_ids, class_ids[rows])
