"""fastText-style bag of words and hashed word n-grams.

Unigrams keep their word id as column; every n-gram of order 2 or more is
hashed into one of `num_buckets` extra columns after the vocabulary, as
fastText does with `-wordNgrams`. The number of columns is fixed whatever
the data size, so memory never grows with the corpus.

The hash is written out so hashed columns are reproducible anywhere: the
n-gram key (`prepare.ngrams.ngram_key`, which already encodes the order)
plus `seed * 0x9E3779B97F4A7C15`, mixed by the SplitMix64 finaliser
(`prepare.splitmix`), modulo `num_buckets`, all in wrapping uint64 arithmetic:

    x = (key + seed * 0x9E3779B97F4A7C15) mod 2**64
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9
    x ^= x >> 27; x *= 0x94D049BB133111EB
    x ^= x >> 31
    column = V + x mod num_buckets
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from streamfit.errors import OptionError, check_number
from streamfit.features.base import FeatureExtractor, count_cells
from streamfit.prepare.ngrams import check_ngram_range, doc_ngram_keys
from streamfit.prepare.splitmix import GOLDEN, splitmix64

WEIGHTINGS = ("mean", "count")


def hash_keys(keys: np.ndarray, seed: int = 0) -> np.ndarray:
    """SplitMix64 hash of int64 n-gram keys (see the module docstring).

    Args:
        keys: int64 keys.
        seed: any integer in [0, 2**64); different seeds give independent hashes.

    Returns:
        uint64 array of hashes, same length as `keys`.
    """
    return splitmix64(np.asarray(keys, dtype=np.int64).view(np.uint64), seed * GOLDEN)


class HashedNgrams(FeatureExtractor):
    """Word ids plus hashed word n-grams, the input of a fastText-style model.

    Args:
        ngram_range: `(n_min, n_max)`, default `(1, 2)`: unigrams (when
            `n_min == 1`) keep their word id, orders >= 2 are hashed.
        num_buckets: columns for hashed n-grams (default 2**21, as fastText's
            `-bucket` default of 2M).
        seed: hash seed.
        weighting: `"mean"` (default): each row's weights are its counts
            divided by its number of n-grams (words included), so they sum to
            1 and an `EmbeddingBag(mode="sum")` over them gives fastText's mean
            of input vectors. `"count"`: the raw counts.

    Padding (0) and out-of-vocabulary (1) ids, and n-grams containing them,
    are left out; their columns (0 and 1) stay empty.

    Fitted attributes:
        vocab_size_: V; columns `[0, V)` are word ids and `[V, V +
            num_buckets)` are buckets.

    Example:
        >>> hashed = HashedNgrams().fit(vocab_size)
        >>> x = hashed.transform(offsets, ids)    # scipy CSR, float32
    """

    name = "hashing"
    _config_keys = ("ngram_range", "num_buckets", "seed", "weighting")
    _state_keys = ("vocab_size",)

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), num_buckets: int = 2 ** 21,
                 seed: int = 0, weighting: str = "mean"):
        check_number("num_buckets", num_buckets, minimum=1)
        check_number("seed", seed, minimum=0, below=2 ** 64)
        if weighting not in WEIGHTINGS:
            raise OptionError("weighting", weighting, f"is unknown; use one of {', '.join(WEIGHTINGS)}")
        self.ngram_range = tuple(ngram_range)
        self.num_buckets = num_buckets
        self.seed = seed
        self.weighting = weighting

    @property
    def num_features(self) -> int:
        """Number of columns: vocabulary size plus buckets."""
        self._check_fitted()
        return self.vocab_size_ + self.num_buckets

    def fit(self, vocab_size: int) -> HashedNgrams:
        """Fix the vocabulary size V (the first bucket's column).

        Args:
            vocab_size: V, the number of word ids (padding and OOV included).

        Returns:
            self.

        Raises:
            UserError: the vocabulary is too small or too big for `ngram_range`.
        """
        check_ngram_range(self.ngram_range, vocab_size)
        self.vocab_size_ = int(vocab_size)
        return self

    def columns(self, keys: np.ndarray) -> np.ndarray:
        """Column of each n-gram key: the word id for unigrams, else V + bucket."""
        self._check_fitted()
        columns = np.array(keys, dtype=np.int64)
        ngrams = columns >= self.vocab_size_  # unigram keys are word ids and keep them
        buckets = hash_keys(columns[ngrams], self.seed) % np.uint64(self.num_buckets)
        columns[ngrams] = buckets.astype(np.int64) + self.vocab_size_
        return columns

    def transform(self, offsets: np.ndarray, ids: np.ndarray) -> scipy.sparse.csr_matrix:
        """Bag of word ids and hashed n-grams of a batch.

        Args:
            offsets: int64 `[n_rows + 1]` row offsets into `ids`.
            ids: int32 word ids of the rows, concatenated.

        Returns:
            float32 CSR `[n_rows, num_features]`, sorted column indices,
            counts or mean weights (see `weighting`). A row with no n-gram
            is all zeros.

        Raises:
            UserError: not fitted, or the ids do not fit the vocabulary.
        """
        self._check_fitted()
        n_rows = len(offsets) - 1
        num_features = self.num_features
        rows, keys = doc_ngram_keys(offsets, ids, *self.ngram_range, self.vocab_size_)
        row, col, counts, indptr = count_cells(rows, self.columns(keys), n_rows, num_features)
        data = counts.astype(np.float32)
        if self.weighting == "mean":
            data /= np.bincount(rows, minlength=n_rows).astype(np.float32)[row]
        return scipy.sparse.csr_matrix((data, col.astype(np.int32), indptr),
                                       shape=(n_rows, num_features))
