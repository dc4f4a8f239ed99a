"""Small bundles: the first layer's rows of largest norm, stored as int8 with one scale per row.

fastText's `quantize -cutoff N` keeps the N input rows (words and n-grams) of
largest L2 norm and encodes them with product quantization. Here the same
cutoff is followed by a plainer code: each kept row `w` becomes int8 values
`q = round(w / s)` with one float16 scale `s >= max|w| / 127` per row, so
every value comes back within `s / 2`, and no codebook has to be trained.
The other tensors (the small dense layers and the biases) stay float32.

In `weights.npz` (written with `np.savez_compressed`, read with
`allow_pickle=False`) a tensor NAME is stored as

- `NAME`: float32, as it is (`{"encoding": "float32"}`), or
- `NAME.q` int8 `[n, columns]` and `NAME.scale` float16 `[n]`
  (`{"encoding": "int8"}`), or `NAME.values` float32 `[n, columns]`
  (`{"encoding": "float32_rows"}`, the cutoff alone), each with `NAME.rows`,
  the int32 indices of the n kept rows (sorted; the rows not kept are zero)
  when `"sparse": true`;

and bundle.json's `"quantized"` field says which, with each tensor's full
shape: `{"format": 1, "cutoff": N or null, "tensors": {NAME: {"encoding":
..., "shape": [rows, columns], "sparse": bool}}}`. `dequantize` turns the
arrays back into the float32 state dict, checking everything it reads.

This module imports numpy only (the torch-free loader calls `dequantize`).
"""

from __future__ import annotations

import numpy as np

from streamfit.errors import UserError

#: The version of the `"quantized"` field this module reads and writes.
QUANTIZED_FORMAT = 1
ENCODINGS = ("float32", "float32_rows", "int8")
#: The largest tensor `dequantize` builds (elements): a declared shape above it is refused.
MAX_ELEMENTS = 1 << 31
_TAMPERED = "the bundle is damaged or was tampered with; quantize it again"


def quantize_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and one float16 scale per row: `matrix ~ q * scale[:, None]`.

    The scale is the least float16 with `127 * scale >= max|row|`, so no code
    is clipped and every value comes back within `scale / 2`
    (`|row - q * scale| <= scale / 2`, plus float32 rounding of the product).

    Args:
        matrix: float `[rows, columns]`, finite.

    Returns:
        `(q, scale)`: int8 `[rows, columns]` and float16 `[rows]`; an all-zero
        row has scale 0 and codes 0.

    Raises:
        UserError: a value is not finite or too large for a float16 scale
            (above 127 * 65504).
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise UserError("the weights hold a value that is not finite (NaN or infinity); "
                        "retrain the bundle")
    peak = np.abs(matrix).max(axis=1) if matrix.shape[1] else np.zeros(len(matrix), np.float32)
    with np.errstate(over="ignore"):
        scale = (peak / 127).astype(np.float16)
    if not np.isfinite(scale).all():
        raise UserError(f"a weight of magnitude {float(peak.max()):.3g} is too large for int8 with "
                        "float16 scales (at most 8.3e6); retrain the bundle")
    short = scale.astype(np.float32) * 127 < peak
    while short.any():  # rounded down to float16: one step up restores 127 * scale >= peak
        scale[short] = np.nextafter(scale[short], np.float16(np.inf))
        short = scale.astype(np.float32) * 127 < peak
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale[:, None] > 0, np.rint(matrix / scale.astype(np.float32)[:, None]), 0)
    return np.clip(q, -127, 127).astype(np.int8), scale


def row_norms(matrix: np.ndarray) -> np.ndarray:
    """The L2 norm of each row, float64."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix))


def largest_rows(norms: np.ndarray, cutoff: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """The `cutoff` rows of largest norm, sorted by index (ties: the smaller index).

    Args:
        norms: each row's norm.
        cutoff: how many to keep (all when there are fewer).
        candidates: the rows that may be kept (default: all).

    Returns:
        int64 sorted row indices.
    """
    rows = np.arange(len(norms)) if candidates is None else np.asarray(candidates, dtype=np.int64)
    order = np.lexsort((rows, -np.asarray(norms)[rows]))[:cutoff]
    return np.sort(rows[order])


def encode_tensor(name: str, matrix: np.ndarray, encoding: str,
                  rows: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the spec entry of one tensor (see the module docstring).

    Args:
        name: the state-dict name.
        matrix: the full float tensor (2-d for the row encodings).
        encoding: one of `ENCODINGS`.
        rows: for a row encoding, the sorted rows kept (the others read back
            as zeros); None keeps all, stored without `NAME.rows`.

    Returns:
        `(arrays, spec)`: the npz entries and `{"encoding", "shape", "sparse"}`.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    spec = {"encoding": encoding, "shape": list(matrix.shape), "sparse": rows is not None}
    if encoding == "float32":
        spec["sparse"] = False
        return {name: matrix}, spec
    kept = matrix if rows is None else matrix[rows]
    arrays = {}
    if rows is not None:
        arrays[name + ".rows"] = np.asarray(rows, dtype=np.int32)
    if encoding == "int8":
        arrays[name + ".q"], arrays[name + ".scale"] = quantize_rows(kept)
    else:
        arrays[name + ".values"] = kept
    return arrays, spec


def dequantize(arrays: dict[str, np.ndarray], spec: dict) -> dict[str, np.ndarray]:
    """The float32 state dict of a quantized bundle's `weights.npz`.

    Args:
        arrays: every array of weights.npz, by name.
        spec: bundle.json's `"quantized"` field.

    Returns:
        float32 arrays by state-dict name, each of its declared `shape`; the
        rows a cutoff dropped are zeros.

    Raises:
        UserError: the spec or the arrays are not what `quantize` writes (a
            field, a dtype, a shape, a row index, a scale), or an array is
            left over; one line naming the field or the array.
    """
    if not isinstance(spec, dict) or spec.get("format") != QUANTIZED_FORMAT:
        raise UserError(f"the field 'quantized' is not a quantized form of format "
                        f"{QUANTIZED_FORMAT}; {_TAMPERED}")
    tensors = spec.get("tensors")
    cutoff = spec.get("cutoff")
    if set(spec) - {"format", "cutoff", "tensors"} or not isinstance(tensors, dict) or not tensors or (
            cutoff is not None and (not isinstance(cutoff, int) or isinstance(cutoff, bool)
                                    or cutoff < 1)):
        raise UserError(f"the field 'quantized' must hold format, cutoff (a count or null) and "
                        f"tensors (by name); {_TAMPERED}")
    used: set[str] = set()
    state = {}
    for name, entry in tensors.items():
        state[name] = _tensor(arrays, name, entry, used)
    left = sorted(set(arrays) - used)
    if left:
        raise UserError(f"weights.npz holds {left[0]!r}, which the field 'quantized' does not "
                        f"describe; {_TAMPERED}")
    return state


def _tensor(arrays: dict[str, np.ndarray], name: str, entry, used: set[str]) -> np.ndarray:
    """One tensor of `dequantize`, checked."""
    field = f"quantized.tensors.{name}"
    if not isinstance(entry, dict) or set(entry) != {"encoding", "shape", "sparse"} or \
            entry["encoding"] not in ENCODINGS or not isinstance(entry["sparse"], bool):
        raise UserError(f"the field {field!r} must hold encoding (one of {', '.join(ENCODINGS)}), "
                        f"shape and sparse; {_TAMPERED}")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool)
                                              and n >= 0 for n in shape) or (
            entry["encoding"] != "float32" and len(shape) != 2) or int(
            np.prod(shape, dtype=object)) > MAX_ELEMENTS:
        raise UserError(f"{field}.shape={shape!r} is not the shape of a tensor of at most "
                        f"{MAX_ELEMENTS} values (2-d for {entry['encoding']}); {_TAMPERED}")

    def take(key: str, dtype, ndim: int) -> np.ndarray:
        if key not in arrays:
            raise UserError(f"weights.npz lacks {key!r}, which {field} needs; {_TAMPERED}")
        array = arrays[key]
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != ndim:
            raise UserError(f"weights.npz: {key!r} is {getattr(array, 'dtype', type(array))} "
                            f"{getattr(array, 'shape', '')}, not {np.dtype(dtype)} of {ndim} "
                            f"dimensions; {_TAMPERED}")
        used.add(key)
        return array

    if entry["encoding"] == "float32":
        value = take(name, np.float32, len(shape))
        if list(value.shape) != shape:
            raise UserError(f"weights.npz: {name!r} has shape {list(value.shape)}, and {field} "
                            f"says {shape}; {_TAMPERED}")
        return value
    rows_total, columns = shape
    if entry["sparse"]:
        rows = take(name + ".rows", np.int32, 1)
        if len(rows) and (rows[0] < 0 or rows[-1] >= rows_total or (np.diff(rows) <= 0).any()):
            raise UserError(f"weights.npz: {name + '.rows'!r} must be sorted distinct rows in "
                            f"[0, {rows_total}); {_TAMPERED}")
        count = len(rows)
    else:
        rows, count = None, rows_total
    if entry["encoding"] == "int8":
        q = take(name + ".q", np.int8, 2)
        scale = take(name + ".scale", np.float16, 1)
        if q.shape != (count, columns) or scale.shape != (count,):
            raise UserError(f"weights.npz: {name + '.q'!r} {list(q.shape)} and {name + '.scale'!r} "
                            f"{list(scale.shape)} do not fit {count} rows of {columns}; {_TAMPERED}")
        if not (np.isfinite(scale).all() and (scale >= 0).all()) or (q == -128).any():
            raise UserError(f"weights.npz: {name!r} holds a scale that is not a finite number >= 0 "
                            f"or a code -128, which quantize never writes; {_TAMPERED}")
        kept = q.astype(np.float32) * scale.astype(np.float32)[:, None]
    else:
        kept = take(name + ".values", np.float32, 2)
        if kept.shape != (count, columns):
            raise UserError(f"weights.npz: {name + '.values'!r} {list(kept.shape)} does not fit "
                            f"{count} rows of {columns}; {_TAMPERED}")
    if rows is None:
        return kept
    full = np.zeros((rows_total, columns), dtype=np.float32)
    full[rows] = kept
    return full


# ---------------------------------------------------------------------------------------------
# A whole bundle: `streamfit quantize DIR --output SMALL` (these import the bundle code lazily).

#: The first layer of each bag model: `[num_features, width]`, one row per feature.
FIRST_LAYER = {"mlp": "input_layer.bag.weight", "fasttext": "embedding.bag.weight"}
#: hashing features: the most frequent words kept besides those of kept rows, per row kept.
NGRAM_WORDS = 1 / 3
#: The files a quantized bundle holds.
QUANTIZED_FILES = ("bundle.json", "vocabulary.arrow", "features.npz", "weights.npz")


def bundle_bytes(directory) -> int:
    """The bytes of a bundle's files (its `checkpoints` not counted)."""
    from pathlib import Path

    names = ("bundle.json", "vocabulary.arrow", "features.npz", "weights.pt", "weights.npz")
    return sum((Path(directory) / name).stat().st_size for name in names
               if (Path(directory) / name).is_file())


def quantize_bundle(directory, output, *, cutoff: int | None = None, data=None,
                    batch_size: int = 1024, option: str = "output") -> list[dict]:
    """Write a small copy of the bundle in `directory` to `output`; score every step.

    Steps: the float bundle; with `cutoff`, the N first-layer rows (features)
    of largest L2 norm kept in float32, the vocabulary and features made
    compact to them; then those rows as int8 with one float16 scale each. The
    other tensors stay float32; the tokenizer, labels, multi-label thresholds,
    source options and training summary are the bundle's.

    - tfidf features (the mlp): the n-grams of the rows not kept are dropped
      from features.npz, the words that no kept n-gram uses from the
      vocabulary, and the kept n-grams' keys are renumbered, so the model's
      `num_features` becomes the rows kept. Rows are L2-normalised over the
      kept n-grams (the norm is the extractor's), which the step's accuracy
      shows.
    - hashing features (fasttext): word ids and n-gram hashes stay as they
      were (features.npz keeps `vocab_size`); the vocabulary keeps the words of
      kept rows and the `cutoff * NGRAM_WORDS` most frequent ones, whose
      n-grams the kept bucket rows hold (the others are blanked, those at its
      end cut), and the first layer only its kept rows (the others read back
      as zeros). A text's mean is then over its known words and n-grams, as
      fastText's after its cutoff.

    Args:
        directory: a bundle (mlp or fasttext).
        output: the new bundle's directory, new or empty, or a streamfit bundle
            to replace (`recipe.bundle.check_output_dir`).
        cutoff: the first-layer rows to keep (None: all).
        data: labelled files to score each step on (None: sizes only);
            read with the bundle's source options.
        batch_size: rows per forward pass when scoring.
        option: the caller's argument that gave `output`, for messages.

    Returns:
        One dict per step: `step`, `rows` (first-layer rows kept), `bytes`
        (the bundle's files) and `score` (accuracy, or micro-F1 for a
        multi-label bundle; None without `data`) with `metric`.

    Raises:
        OptionError: a bad cutoff or output directory.
        UserError: the bundle is not an mlp or fasttext bundle, or a file
            cannot be read or written.
    """
    import tempfile
    from pathlib import Path

    from streamfit.errors import OptionError, check_number
    from streamfit.recipe.bundle import check_output_dir, load_bundle

    check_number("cutoff", cutoff, minimum=1, optional=True)
    check_number("batch_size", batch_size, minimum=1)
    directory, output = Path(directory), Path(output)
    if output.resolve() == directory.resolve():
        raise OptionError(option, str(output), "is the bundle being quantized; give another "
                          "directory for the small bundle")
    bundle = load_bundle(directory)
    check_output_dir(output, option=option)
    meta = _bundle_meta(directory, bundle)
    kind, features = meta["model"]["name"], meta["features"]["name"]
    if kind not in FIRST_LAYER or features not in ("tfidf", "hashing"):
        raise UserError(f"{directory}: a {kind} bundle on {features} features cannot be quantized; "
                        "quantize handles mlp (tfidf) and fasttext (hashing) bundles")
    state = _float_state(directory, meta, bundle)
    first = FIRST_LAYER[kind]
    weight = state[first]
    steps = [_step("float bundle", len(weight), bundle_bytes(directory), bundle, data, batch_size)]
    plan = _compact(bundle, meta, weight, cutoff)
    with tempfile.TemporaryDirectory(prefix="streamfit-quantize-") as scratch:
        if cutoff is not None:
            step_dir = Path(scratch) / "cutoff"
            _write(step_dir, plan, state, first, "float32_rows", cutoff, "directory")
            steps.append(_step(f"cutoff {cutoff}", plan["kept"], bundle_bytes(step_dir),
                               load_bundle(step_dir), data, batch_size))
    _write(output, plan, state, first, "int8", cutoff, option)
    steps.append(_step("int8 rows", plan["kept"], bundle_bytes(output), load_bundle(output), data,
                       batch_size))
    return steps


def _bundle_meta(directory, bundle) -> dict:
    """The bundle's bundle.json fields (as `load_bundle` checked them)."""
    meta = getattr(bundle, "meta", None)
    if isinstance(meta, dict):
        return json_copy(meta)
    import json
    from pathlib import Path

    return json.loads((Path(directory) / "bundle.json").read_text(encoding="utf-8"))


def json_copy(value):
    """A deep copy of JSON-ready values."""
    import json

    return json.loads(json.dumps(value))


def _float_state(directory, meta: dict, bundle) -> dict[str, np.ndarray]:
    """The bundle's state dict as float32 numpy arrays, however its weights are stored."""
    weights = getattr(bundle, "weights", None)
    if isinstance(weights, dict):
        return {name: np.asarray(value, np.float32) for name, value in weights.items()}
    return {k: v.detach().cpu().float().numpy() for k, v in bundle.module.state_dict().items()}


def _compact(bundle, meta: dict, weight: np.ndarray, cutoff: int | None) -> dict:
    """What the small bundle holds besides its weights: the plan `_write` follows.

    Returns:
        `meta` (bundle.json without the weights fields), `vocabulary` (an Arrow
        table), `features` (features.npz's arrays), `rows` (the kept first-layer
        rows, int64 sorted, in the old numbering), `sparse` (whether the small
        bundle's first layer keeps the full shape), `kept`.
    """
    import pyarrow as pa

    meta = json_copy(meta)
    meta.pop("weights", None)
    meta.pop("quantized", None)
    extractor = bundle.extractor
    words = bundle.vocabulary.words
    df = bundle.vocabulary.df if bundle.vocabulary.df is not None else np.zeros(len(words), np.int64)
    first_word = 2  # ids 0 and 1: padding and out-of-vocabulary
    if meta["features"]["name"] == "hashing":
        vocab_size = extractor.vocab_size_
        candidates = np.arange(first_word, len(weight))  # columns 0 and 1 never fire
        rows = candidates if cutoff is None else largest_rows(row_norms(weight), cutoff, candidates)
        word_rows = rows[rows < vocab_size] - first_word
        keep = np.zeros(len(words), dtype=bool)
        keep[word_rows[word_rows < len(words)]] = True
        # The kept n-gram rows need their words in the vocabulary (an unknown word ends its
        # n-grams), and the frequent words make most n-grams: keep those too (IMDB, cutoff
        # 60000: 0.8837 with the 20000 most frequent, 0.8758 without, 0.8837 with all words).
        keep[:len(words) if cutoff is None else int(cutoff * NGRAM_WORDS)] = True
        last = int(np.flatnonzero(keep)[-1]) + 1 if keep.any() else 0
        text = np.where(keep[:last], np.asarray(words.slice(0, last).to_pylist(), dtype=object), "")
        table = pa.table({"word": pa.array(list(text), pa.string()),
                          "df": np.where(keep[:last], df[:last], 0).astype(np.int64)})
        return {"meta": meta, "vocabulary": table, "features": extractor.state_dict(), "rows": rows,
                "sparse": True, "kept": len(rows)}
    # tfidf: drop the n-grams of the rows not kept and the words no kept n-gram uses; renumber.
    from streamfit.prepare.ngrams import check_ngram_range

    rows = np.arange(len(weight)) if cutoff is None else largest_rows(row_norms(weight), cutoff)
    old_v = extractor.vocab_size_
    keys = np.asarray(extractor.keys_, np.int64)[rows]
    digits = []  # word ids of each key, least significant first (real ids are >= 2, never 0)
    rest = keys.copy()
    while (rest > 0).any():
        digits.append(np.where(rest > 0, rest % old_v, -1))
        rest //= old_v
    used = np.unique(np.concatenate([d[d >= 0] for d in digits])) if digits else np.zeros(0, np.int64)
    new_id = np.full(old_v, -1, dtype=np.int64)
    new_id[used] = np.arange(len(used)) + first_word
    new_v = len(used) + first_word
    check_ngram_range(tuple(extractor.ngram_range), max(new_v, first_word + 1))
    new_keys = np.zeros(len(keys), dtype=np.int64)
    for position, digit in enumerate(digits):
        present = digit >= 0
        new_keys[present] += new_id[digit[present]] * new_v ** position
    order = np.argsort(new_keys, kind="stable")
    rows = rows[order]  # the kept rows in the order of the new (sorted) keys
    table = pa.table({"word": words.take(pa.array(used - first_word)),
                      "df": np.asarray(df, np.int64)[used - first_word]})
    features = {"keys": new_keys[order], "idf": np.asarray(extractor.idf_)[rows],
                "vocab_size": np.asarray(new_v)}
    meta["model"]["config"]["num_features"] = len(rows)
    return {"meta": meta, "vocabulary": table, "features": features, "rows": rows, "sparse": False,
            "kept": len(rows)}


def _write(directory, plan: dict, state: dict[str, np.ndarray], first: str, encoding: str,
           cutoff: int | None, option: str) -> None:
    """Write the small bundle of `plan` to `directory` as `save_bundle` writes one: atomically.

    Only a new or empty directory, or a streamfit bundle, is replaced
    (`check_output_dir`); the files are written in a locked work folder
    beside it (`streamfit.workspace`) that then takes its place.
    """
    import json
    import os
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.ipc as ipc

    from streamfit.files import is_disk_full, write_atomic
    from streamfit.recipe.bundle import check_output_dir
    from streamfit.workspace import Workspace, sweep_stale

    arrays: dict[str, np.ndarray] = {}
    tensors = {}
    for name, value in state.items():
        if name == first:
            rows = plan["rows"]
            matrix = value if plan["sparse"] else value[rows]
            part, spec = encode_tensor(name, matrix, encoding, rows if plan["sparse"] else None)
        else:
            part, spec = encode_tensor(name, value, "float32")
        arrays.update(part)
        tensors[name] = spec
    meta = dict(plan["meta"])
    meta["weights"] = "weights.npz"
    meta["quantized"] = {"format": QUANTIZED_FORMAT, "cutoff": cutoff, "tensors": tensors}
    text = json.dumps(meta, indent=1) + "\n"
    directory = Path(directory)
    directory = directory.resolve() if directory.is_symlink() else directory
    check_output_dir(directory, option=option)
    options = ipc.IpcWriteOptions(compression="zstd")
    try:
        sweep_stale(directory.parent)
        with Workspace(directory.parent, directory.name) as workspace:
            work = workspace.new
            os.mkdir(work, 0o700)
            with ipc.new_file(str(work / "vocabulary.arrow"), plan["vocabulary"].schema,
                              options=options) as file:
                file.write_table(plan["vocabulary"])
            write_atomic(work / "features.npz",
                         lambda file: np.savez_compressed(file, **plan["features"]))
            write_atomic(work / "weights.npz", lambda file: np.savez_compressed(file, **arrays))
            write_atomic(work / "bundle.json", lambda file: file.write(text.encode()))
            workspace.install(directory, lambda folder: check_output_dir(folder, option=option))
    except (OSError, pa.ArrowException) as error:
        reason = ("no space left on the device" if is_disk_full(error)
                  else getattr(error, "strerror", None) or str(error).splitlines()[0])
        raise UserError(f"cannot write the bundle {directory} ({reason}); nothing there was "
                        "changed") from None


def _step(name: str, rows: int, size: int, bundle, data, batch_size: int) -> dict:
    """One row of the report: the step's size, and its score on `data` when given."""
    step = {"step": name, "rows": int(rows), "bytes": int(size), "score": None,
            "metric": "micro_f1" if bundle.multi_label else "accuracy"}
    if data:
        from streamfit.recipe.evaluation import evaluate_source
        from streamfit.sources import RowAccounting

        spec = bundle.source_spec(list(data))
        report = evaluate_source(bundle, spec, RowAccounting(strict=spec.strict),
                                 batch_size=batch_size, device="cpu")
        step["score"] = float(report[step["metric"]])
    return step


def format_steps(steps: list[dict]) -> str:
    """The report of `quantize_bundle` as a table: rows, size, times smaller, score."""
    metric = steps[0]["metric"]
    lines = [f"{'step':<16} {'rows':>11} {'size':>11} {'smaller':>8} {metric:>9}"]
    for step in steps:
        score = "-" if step["score"] is None else f"{step['score']:.4f}"
        size = step["bytes"]
        shown = f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
        lines.append(f"{step['step']:<16} {step['rows']:>11,} {shown:>11} "
                     f"{steps[0]['bytes'] / max(size, 1):>7.1f}x {score:>9}")
    return "\n".join(lines)
