"""The featurizing spec (`featurize.json`) and reference vectors (`reference.json`) of an export.

`featurize.json` says, as data and in words, everything the bundle does
between a raw text and the model's input, so that another language can do
it without streamfit:

1. **Tokenizer** (`streamfit.prepare.tokenize`). A null text is "". With
   `lowercase`, every code point is mapped by its Unicode *simple*
   lowercase mapping (UnicodeData.txt; no context rules: a final capital
   sigma becomes "σ", "İ" becomes "i"), as pyarrow's `utf8_lower`
   (utf8proc) does. The text is then split at every run of characters
   matching `pattern` (RE2 syntax); empty tokens are dropped. The default
   pattern `[^\\pL\\pN\\pM_']+` makes a token of each maximal run of letters
   (general category L*), numbers (N*), marks (M*), "_" and "'"
   (`word_characters`); everything else, markup such as "<br />" included,
   separates. The Unicode tables are the ones of the pyarrow that
   streamfit ran with (`unicode_note`).
2. **Vocabulary** (`streamfit.prepare.vocabulary`): token `words[i]` has
   word id `i + 2` (exact, case-sensitive string match after step 1);
   any other token is id 1 (out of vocabulary); id 0 is padding. A word
   may be "" (a quantized bundle's blanked word), which no token matches.
3. **Features**, by `features.name`:
   - `tfidf` (`streamfit.features.tfidf`): the n-grams of orders
     `ngram_range` of the row's word ids, n-grams never crossing the row's
     ends and never containing id 0 or 1; each occurrence of n-gram
     `ngrams[j]` (a list of word ids) counts for column j (others are
     dropped); per column `tf` = its count (`1 + ln(count)` with
     `sublinear_tf`), value `tf * idf[j]` (idf as float32, the product in
     float64), then with `norm` "l2" divided by the row's Euclidean norm of
     those values, then rounded to float32.
   - `hashing` (`streamfit.features.hashing`): the same n-gram occurrences;
     a unigram's column is its word id; an n-gram (w1..wn), n >= 2, has
     key `w1 * V**(n-1) + ... + wn` (V = `vocab_size`, exact int64) and
     column `V + splitmix64(key + seed * 0x9E3779B97F4A7C15) mod num_buckets`
     in wrapping uint64 arithmetic (`hash`). Per column: its count; with
     `weighting` "mean" divided by the row's number of n-gram occurrences
     (float32).
   - `sequences` (`streamfit.features.sequences`): ids `>= num_words` become
     1; the row's last `length` ids, right-aligned after leading zeros.
4. **Model input**: a bag model takes a batch as CSR: per row its columns in
   ascending order, one entry per distinct column, concatenated as `ids`
   (int64) with their values `weights` (float32) and the `rows + 1` row
   pointer `offsets` (int64, starting at 0). A row with no entry is valid.
   sepCNN takes `ids` int64 `[rows, length]`.
5. **Output**: `probabilities` float32 `[rows, classes]`, class j being
   `labels[j]`: `softmax`, `sigmoid` (one per label, a multi-label bundle:
   label j is chosen at `probabilities[j] >= thresholds[j]`) or `binary`
   (one logit z, `[1 - sigmoid(z), sigmoid(z)]`).

`reference.json` holds a few texts with their tokens, word ids, model input
and the bundle's probabilities (`Bundle.predict_proba`), to test a port against.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from streamfit.features import HashedNgrams, NgramTfidf, Sequences
from streamfit.prepare.ngrams import ngram_order
from streamfit.prepare.splitmix import GOLDEN
from streamfit.prepare.tokenize import DEFAULT_PATTERN
from streamfit.prepare.vocabulary import FIRST_WORD_ID, OOV_ID, PAD_ID

#: `format` of featurize.json and reference.json: what an export directory's files say they are.
EXPORT_FORMAT = "streamfit-export"
EXPORT_VERSION = 1

#: Texts of every reference file, beside the bundle's own most frequent words.
REFERENCE_TEXTS = (
    "A great film, I loved it!",
    "",
    "Worst. Movie. Ever...<br /><br />Don't watch it; it's DULL & 2 hours long",
    "Naïve CAFÉ — ΟΔΟΣ İstanbul, ﬁne déjà-vu",
    "zzqx qqqz",
)


def featurize_spec(bundle, model_file: str, model_format: str, output: str) -> dict:
    """featurize.json's content for `bundle` (see the module docstring).

    Args:
        bundle: a loaded `Bundle`.
        model_file: the exported model's file name, beside the spec.
        model_format: "onnx" or "torchscript".
        output: the probabilities' activation (`network.output_activation`).
    """
    tokenizer = bundle.tokenizer.get_config()
    if tokenizer["pattern"] == DEFAULT_PATTERN:
        tokenizer["word_characters"] = {"categories": ["L", "N", "M"], "characters": ["_", "'"]}
    tokenizer["lowercase_mapping"] = "unicode simple lowercase, per code point"
    tokenizer["unicode_note"] = ("pyarrow's utf8proc and RE2 tables; code points unassigned in "
                                 "older Unicode versions may differ")
    words = bundle.vocabulary.words.to_pylist()
    thresholds = None if bundle.thresholds is None else [float(t) for t in bundle.thresholds]
    return {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
        "model": {"file": model_file, "format": model_format, "kind": bundle.model_kind,
                  "inputs": _inputs(bundle), "output": "probabilities"},
        "labels": list(bundle.labels.names), "multi_label": bool(bundle.multi_label),
        "thresholds": thresholds, "output": output,
        "tokenizer": tokenizer,
        "vocabulary": {"padding_id": PAD_ID, "oov_id": OOV_ID, "first_word_id": FIRST_WORD_ID,
                       "size": len(words) + FIRST_WORD_ID, "words": words},
        "features": _features(bundle.extractor),
    }


def _inputs(bundle) -> dict:
    if isinstance(bundle.extractor, Sequences):
        return {"ids": {"type": "int64", "shape": ["rows", int(bundle.extractor.length_)]}}
    return {"ids": {"type": "int64", "shape": ["nnz"]},
            "offsets": {"type": "int64", "shape": ["rows + 1"]},
            "weights": {"type": "float32", "shape": ["nnz"]}}


def _features(extractor) -> dict:
    config = extractor.get_config()
    if isinstance(extractor, NgramTfidf):
        return {"name": "tfidf", "ngram_range": config["ngram_range"],
                "sublinear_tf": config["sublinear_tf"], "norm": config["norm"],
                "vocab_size": int(extractor.vocab_size_), "num_features": extractor.num_features,
                "ngrams": _ngram_words(extractor.keys_, extractor.vocab_size_),
                "idf": [float(v) for v in np.asarray(extractor.idf_, np.float32)]}
    if isinstance(extractor, HashedNgrams):
        return {"name": "hashing", "ngram_range": config["ngram_range"],
                "num_buckets": config["num_buckets"], "seed": str(config["seed"]),
                "weighting": config["weighting"], "vocab_size": int(extractor.vocab_size_),
                "num_features": extractor.num_features,
                "hash": {"increment_per_seed": hex(GOLDEN), "shifts": [30, 27, 31],
                         "multipliers": ["0xbf58476d1ce4e5b9", "0x94d049bb133111eb"],
                         "arithmetic": "uint64, wrapping"}}
    if isinstance(extractor, Sequences):
        return {"name": "sequences", "num_words": config["num_words"],
                "length": int(extractor.length_)}
    raise TypeError(f"no featurizing spec for {type(extractor).__name__}")


def _ngram_words(keys: np.ndarray, vocab_size: int) -> list[list[int]]:
    """Each key's word ids (`ngram_key` inverted), vectorised by order."""
    keys = np.asarray(keys, np.int64)
    order = ngram_order(keys, vocab_size)
    words: list[list[int]] = [[] for _ in keys]
    for n in np.unique(order):
        where = np.flatnonzero(order == n)
        rest = keys[where].copy()
        digits = []
        for _ in range(int(n)):
            rest, digit = np.divmod(rest, vocab_size)
            digits.append(digit)
        for i, row in zip(where.tolist(), np.stack(digits[::-1], axis=1).tolist(), strict=True):
            words[i] = row
    return words


def reference_texts(bundle) -> list[str]:
    """`REFERENCE_TEXTS` and one text of the bundle's 12 most frequent words, twice."""
    top = " ".join(bundle.vocabulary.words.slice(0, 12).to_pylist())
    return [*REFERENCE_TEXTS, f"{top} {top}".strip()]


def reference_vectors(bundle, texts: list[str]) -> dict:
    """reference.json's content: texts, their tokens and word ids, model input, probabilities."""
    array = pa.array(texts, pa.string())
    tokens = bundle.tokenizer(array)
    offsets, ids = bundle.vocabulary.lookup(tokens)
    x = bundle.featurize(array)
    if isinstance(bundle.extractor, Sequences):
        model_input = {"ids": np.asarray(x, np.int64).tolist()}
    else:
        x.sort_indices()
        model_input = {"ids": x.indices.astype(np.int64).tolist(),
                       "offsets": x.indptr.astype(np.int64).tolist(),
                       "weights": [float(v) for v in x.data.astype(np.float32)]}
    probabilities = bundle.predict_proba(array)
    return {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "texts": texts,
        "tokens": tokens.to_pylist(),
        "word_ids": [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)],
        "input": model_input,
        "probabilities": [[float(p) for p in row] for row in np.asarray(probabilities, np.float32)],
    }
