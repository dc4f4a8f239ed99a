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
            documents of each class contain the n-gram (at least once).
        class_counts: int64 `[num_classes]`: training documents per class.
    """

    vocab_size: int
    ngram_range: tuple[int, int]
    keys: np.ndarray
    class_df: np.ndarray
    class_counts: np.ndarray

    @property
    def num_documents(self) -> int:
        """Training documents counted (all classes)."""
        return int(self.class_counts.sum())


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
