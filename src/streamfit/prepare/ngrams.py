"""Word n-grams as int64 keys: listed per row, counted here, looked up by features.

Rows arrive as CSR-like word ids: `offsets` (int64, `n_rows + 1` entries,
`offsets[0] == 0`) and `ids` (int32, the rows' word ids concatenated). Word
ids index a vocabulary of `vocab_size` (V) entries in which id 0 is padding,
id 1 is out-of-vocabulary and real words start at 2.

The key of the n-gram of word ids `(w1, ..., wn)` is the base-V number
`w1 * V**(n-1) + ... + wn`. Because every real word id is at least 2, the key
of an n-gram lies in `[2 * V**(n-1), V**n)`, so keys of different orders
never collide and sorted keys group by order (unigrams first, then bigrams,
...). With V < 2**20, trigrams fit in int64.

The keys belong to the prepare layer, which makes the word ids they are made
of and counts them (`doc_ngram_keys` into `NgramCounts`, kept in the cache);
the feature extractors downstream list the same keys per batch and find
their columns (`features.key_index.KeyIndex`, `features.hashing`).

Example:
    >>> offsets = np.array([0, 3, 4]); ids = np.array([2, 3, 4, 5], np.int32)
    >>> row, keys = doc_ngram_keys(offsets, ids, 1, 2, vocab_size=10)
    >>> row.tolist(), keys.tolist()
    ([0, 0, 0, 1, 0, 0], [2, 3, 4, 5, 23, 34])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamfit.errors import OptionError, UserError
from streamfit.prepare.vocabulary import FIRST_WORD_ID  # ids below it are padding and OOV

_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class NgramCounts:
    """Document frequencies of candidate n-grams over the training rows, per class.

    Attributes:
        vocab_size: V, the number of word ids (padding and OOV included).
        ngram_range: (n_min, n_max), the n-gram orders that were counted.
        keys: int64 `ngram_key` of each candidate n-gram (any order, unique).
        class_df: int64 `[len(keys), num_classes]`: how many training
            documents of each class contain the n-gram (at least once). In
            multi-label mode a `scipy.sparse.csr_matrix` of that shape (a
            document counts for every label it holds; zeros are not stored).
        class_counts: int64 `[num_classes]`: training documents per class
            (multi-label: documents holding each label).
        df: multi-label only: int64 `[len(keys)]` documents holding each
            n-gram (single-label: the row sums of `class_df`).
        documents: multi-label only: the training documents counted (single-
            label: the sum of `class_counts`).
    """

    vocab_size: int
    ngram_range: tuple[int, int]
    keys: np.ndarray
    class_df: np.ndarray
    class_counts: np.ndarray
    df: np.ndarray | None = None
    documents: int | None = None

    @property
    def multi_label(self) -> bool:
        """Whether the counts are per label of multi-label rows (`class_df` sparse)."""
        return self.df is not None

    @property
    def num_documents(self) -> int:
        """Training documents counted (all classes)."""
        if self.documents is not None:
            return int(self.documents)
        return int(self.class_counts.sum())

    def document_frequency(self) -> np.ndarray:
        """int64 `[len(keys)]`: training documents holding each n-gram."""
        if self.df is not None:
            return np.asarray(self.df, dtype=np.int64)
        return np.asarray(self.class_df, dtype=np.int64).sum(axis=1)


def one_vs_rest_f_score(counts: NgramCounts, candidates: np.ndarray | None = None) -> np.ndarray:
    """Multi-label feature score: the largest one-vs-rest ANOVA F over the labels.

    For each label l the documents split into those holding l (`pos_l` of
    the N) and the rest, and each n-gram is a binary presence feature,
    present in `c` of the `pos_l` and `df - c` of the others. Its ANOVA F
    for that two-group split (scikit-learn's `f_classif(X, y == l)` on the
    0/1 matrix) is, with the phi coefficient of the 2x2 table,

        phi**2 = (c * N - df * pos_l)**2 / (df * (N - df) * pos_l * (N - pos_l))
        F_l    = (N - 2) * phi**2 / (1 - phi**2)

    (`inf` where phi**2 is 1: the n-gram marks the label exactly), and the
    score is `max_l F_l`. For a fixed N, F_l grows with phi**2, and so does
    the 2x2 chi-square `N * phi**2`: ranking by this score is ranking by the
    largest per-label chi-square. Labels held by no document or by all score
    0. Only the labels an n-gram occurs with are stored (`class_df` sparse);
    among the others (c = 0) phi**2 grows with `pos_l`, so the best of them
    is the most frequent label the n-gram never occurs with, found per
    n-gram without a dense n-grams x labels matrix.

    Args:
        counts: multi-label counts (`counts.multi_label`).
        candidates: the n-grams to score (a boolean mask or index array over
            `counts.keys`); None for all.

    Returns:
        float64 scores, one per scored n-gram.
    """
    df_all = counts.document_frequency()
    matrix = counts.class_df.tocsr()
    if candidates is not None:
        matrix, df_all = matrix[candidates], df_all[candidates]
    n = float(counts.num_documents)
    pos = np.asarray(counts.class_counts, dtype=np.float64)
    df = df_all.astype(np.float64)
    rows = len(df)
    if n <= 2 or rows == 0:
        return np.zeros(rows)
    eligible = (pos > 0) & (pos < n)

    def f_score(c, doc_freq, positives):
        with np.errstate(divide="ignore", invalid="ignore"):
            den = doc_freq * (n - doc_freq) * positives * (n - positives)
            phi2 = np.where(den > 0, (c * n - doc_freq * positives) ** 2 / den, 0.0)
            return np.where(phi2 >= 1 - 1e-12, np.inf, (n - 2) * phi2 / (1 - phi2))

    matrix.sort_indices()
    indptr = matrix.indptr.astype(np.int64)
    key_of_cell = np.repeat(np.arange(rows), np.diff(indptr))
    labels = matrix.indices.astype(np.int64)
    score = np.zeros(rows)
    good = eligible[labels]
    if good.any():
        cell = f_score(matrix.data[good].astype(np.float64), df[key_of_cell[good]], pos[labels[good]])
        np.maximum.at(score, key_of_cell[good], cell)
    # The best label an n-gram never occurs with: the most frequent eligible
    # label not among its cells. With eligible labels ranked by frequency
    # (descending), a key's cells' ranks r_0 < r_1 < ... match 0, 1, ... for
    # a prefix; its length is the first rank missing.
    by_frequency = np.flatnonzero(eligible)[np.argsort(-pos[eligible], kind="stable")]
    if len(by_frequency):
        rank = np.full(len(pos), -1, dtype=np.int64)
        rank[by_frequency] = np.arange(len(by_frequency))
        cell_rank = rank[labels]
        keep = cell_rank >= 0
        cell_key, cell_rank = key_of_cell[keep], cell_rank[keep]
        order = np.lexsort((cell_rank, cell_key))
        cell_key, cell_rank = cell_key[order], cell_rank[order]
        start = np.searchsorted(cell_key, np.arange(rows))
        position = np.arange(len(cell_key)) - start[cell_key]
        missing = np.bincount(cell_key[cell_rank == position], minlength=rows)
        absent = missing < len(by_frequency)
        best = by_frequency[np.minimum(missing, len(by_frequency) - 1)]
        zero = f_score(0.0, df, pos[best])
        score = np.where(absent, np.maximum(score, zero), score)
    return score


def check_ngram_range(ngram_range, vocab_size: int, argument: str = "ngram_range") -> tuple[int, int]:
    """Validate an n-gram range against the vocabulary size and return it as a tuple.

    Args:
        ngram_range: `(n_min, n_max)` with `1 <= n_min <= n_max`.
        vocab_size: V; `V**n_max` must fit in int64.
        argument: the argument name used in the error message.

    Returns:
        `(n_min, n_max)` as Python ints.

    Raises:
        OptionError: the range is malformed, its keys would overflow int64, or
            `vocab_size` leaves no room for words.
    """
    try:
        n_min, n_max = (int(n) for n in ngram_range)
    except (TypeError, ValueError):
        raise OptionError(argument, ngram_range, "is not a pair of integers; pass e.g. (1, 2)") from None
    if not 1 <= n_min <= n_max:
        raise OptionError(argument, (n_min, n_max), "needs 1 <= n_min <= n_max; pass e.g. (1, 2)")
    if vocab_size < FIRST_WORD_ID:
        raise OptionError("vocab_size", vocab_size, "leaves no room for words (ids 0 and 1 are "
                          "padding and out-of-vocabulary); rebuild the vocabulary")
    if vocab_size ** n_max > _INT64_MAX:
        raise OptionError(argument, (n_min, n_max), f"with a vocabulary of {vocab_size} words "
                          "overflows the int64 n-gram keys; lower n_max or the vocabulary size")
    return n_min, n_max


def ngram_key(words, vocab_size: int) -> np.ndarray:
    """Key of n-grams given as word-id columns: `w1 * V**(n-1) + ... + wn`.

    Args:
        words: a sequence of n arrays (or an `[m, n]` array), column j holding
            the j-th word id of each of the m n-grams; all ids in [2, V).
        vocab_size: V.

    Returns:
        int64 array of m keys.

    Raises:
        OptionError: n is 0 or `V**n` overflows int64.
    """
    columns = list(np.asarray(words).T) if isinstance(words, np.ndarray) else list(words)
    if not columns:
        raise OptionError("words", words, "has no word columns; pass at least one")
    check_ngram_range((len(columns), len(columns)), vocab_size)
    key = np.asarray(columns[0], dtype=np.int64)
    for column in columns[1:]:
        key = key * vocab_size + np.asarray(column, dtype=np.int64)
    return key


def ngram_order(keys: np.ndarray, vocab_size: int) -> np.ndarray:
    """The order n of each n-gram key (1 for unigrams, 2 for bigrams, ...).

    Args:
        keys: int64 keys made by `ngram_key`.
        vocab_size: V.

    Returns:
        int64 array, same length as `keys`.
    """
    keys = np.asarray(keys, dtype=np.int64)
    order = np.ones(len(keys), dtype=np.int64)
    bound = vocab_size
    while True:
        above = keys >= bound
        if not above.any():
            return order
        order += above
        if bound > _INT64_MAX // vocab_size:
            return order
        bound *= vocab_size


def ngram_words(key: int, vocab_size: int) -> tuple[int, ...]:
    """The word ids of one n-gram key (for inspection and messages).

    Args:
        key: a key made by `ngram_key`.
        vocab_size: V.

    Returns:
        The word ids `(w1, ..., wn)`.
    """
    words = []
    key = int(key)
    while key:
        key, word = divmod(key, vocab_size)
        words.append(word)
    return tuple(reversed(words))


def check_rows(offsets: np.ndarray, ids: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`(offsets as int64, ids)` when the offsets span the ids and every id is below `vocab_size`.

    Raises:
        UserError: either is not so (rows prepared with another vocabulary).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    ids = np.asarray(ids)
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids):
        raise UserError(f"offsets must start at 0 and end at len(ids)={len(ids)}; got "
                        f"{len(offsets)} offsets ending at "
                        f"{offsets[-1] if len(offsets) else None}")
    if len(ids) and ids.max() >= vocab_size:
        raise UserError(f"word id {ids.max()} is outside the vocabulary of {vocab_size} "
                        "ids; the rows were prepared with another vocabulary, prepare "
                        "them again")
    return offsets, ids


def doc_ngram_keys(offsets: np.ndarray, ids: np.ndarray, n_min: int, n_max: int,
                   vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """List the n-gram keys of every row, orders `n_min..n_max`.

    N-grams never cross a row boundary, and an n-gram containing padding (0)
    or out-of-vocabulary (1) is skipped. Vectorised: a few numpy passes over
    `ids` per order, no per-row Python.

    Args:
        offsets: int64 `[n_rows + 1]`, `offsets[0] == 0`, non-decreasing.
        ids: int word ids of the rows, concatenated; all below `vocab_size`.
        n_min: smallest n-gram order (>= 1).
        n_max: largest n-gram order.
        vocab_size: V, for the keys.

    Returns:
        `(row_of_key, keys)`, both int64 and of equal length: the keys of order
        `n_min` of all rows in position order, then those of order
        `n_min + 1`, and so on; `row_of_key` is the row each key came from
        (non-decreasing within each order). A row may repeat a key.

    Raises:
        OptionError: bad `n_min`/`n_max`.
        UserError: `offsets` do not span `ids`, or an id is not below `vocab_size`.
    """
    n_min, n_max = check_ngram_range((n_min, n_max), vocab_size, "(n_min, n_max)")
    offsets, ids = check_rows(offsets, ids, vocab_size)
    lengths = np.diff(offsets)
    row_of_pos = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    good = ids >= FIRST_WORD_ID
    # last_in_row[i]: token i ends its row, so no n-gram may continue past it.
    last_in_row = np.zeros(len(ids), dtype=bool)
    last_in_row[offsets[1:][lengths > 0] - 1] = True

    rows, keys = [], []
    key = ids.astype(np.int64)
    valid = good
    for n in range(1, n_max + 1):
        if n > 1:
            # Extend each (n-1)-gram starting at i by the word at i + n - 1.
            key = key[:-1] * vocab_size + ids[n - 1:]
            valid = valid[:-1] & good[n - 1:] & ~last_in_row[n - 2:len(ids) - 1]
        if n >= n_min:
            where = np.flatnonzero(valid)
            rows.append(row_of_pos[where])
            keys.append(key[where])
        if len(key) <= 1:
            break
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(keys)
