"""The word vocabulary: token strings to word ids.

Ids are dense and sorted by descending document frequency, so "the top k
words" is simply "ids below k + 2":

    0   padding (never a word)
    1   out of vocabulary
    2.. words, most frequent first (ties broken alphabetically)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2
#: `lookup` uses a dict (built on first use) when the tokens are fewer than
#: the words over this: hashing the vocabulary per call costs about that many
#: dict lookups per word.
_DICT_SHARE = 20


class Vocabulary:
    """Map tokens to word ids.

    Args:
        words: the words, most frequent first; word `words[i]` has id `i + 2`.
        df: their document frequencies in the training rows (optional).
    """

    def __init__(self, words: pa.Array, df: np.ndarray | None = None):
        self.words = words if isinstance(words, pa.Array) else pa.array(words, pa.string())
        self.df = df
        self._by_word: dict[str, int] | None = None

    @classmethod
    def from_counts(cls, values: pa.Array, df: np.ndarray, *, min_df: int, max_words: int) -> Vocabulary:
        """Keep words with `df >= min_df`, the `max_words` most frequent."""
        keep = np.flatnonzero(df >= min_df)
        table = pa.table({"word": values.take(pa.array(keep)), "df": df[keep]})
        table = table.sort_by([("df", "descending"), ("word", "ascending")]).slice(0, max_words)
        return cls(table["word"].combine_chunks(), np.asarray(table["df"], dtype=np.int64))

    def __len__(self) -> int:
        """Number of ids, padding and out-of-vocabulary included."""
        return len(self.words) + FIRST_WORD_ID

    def lookup(self, tokens: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
        """Return `(offsets, ids)` for a list array of tokens, CSR-like.

        `offsets` is int64 with one more entry than rows; `ids` is int32.
        """
        flat = pc.list_flatten(tokens)
        if len(flat) * _DICT_SHARE < len(self.words):
            # `index_in` hashes the whole vocabulary on every call: for a few tokens
            # (one text served, one line piped in) a dict built once is far cheaper.
            ids_of = self._ids()
            ids = np.fromiter((ids_of.get(token, OOV_ID) for token in flat.to_pylist()),
                              dtype=np.int32, count=len(flat))
        else:
            index = pc.index_in(flat, value_set=self.words)
            ids = np.asarray(index.fill_null(OOV_ID - FIRST_WORD_ID), dtype=np.int32) + FIRST_WORD_ID
        offsets = np.asarray(tokens.offsets, dtype=np.int64)
        return offsets - offsets[0], ids

    def _ids(self) -> dict[str, int]:
        if self._by_word is None:
            self._by_word = {word: i for i, word in enumerate(self.words.to_pylist(), FIRST_WORD_ID)}
        return self._by_word

    def to_table(self) -> pa.Table:
        df = self.df if self.df is not None else np.zeros(len(self.words), dtype=np.int64)
        return pa.table({"word": self.words, "df": df})

    @classmethod
    def from_table(cls, table: pa.Table) -> Vocabulary:
        return cls(table["word"].combine_chunks(), np.asarray(table["df"], dtype=np.int64))
