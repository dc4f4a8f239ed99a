"""Padded word-id sequences, the input of the guide's sepCNN.

The guide keeps the `TOP_K = 20000` most frequent words (Keras'
`Tokenizer(num_words=20000)`) and pads with `sequence.pad_sequences(x,
maxlen=max_length)`, whose defaults pad and truncate at the START
(`padding='pre'`, `truncating='pre'`): a long row keeps its last words and a
short row gets leading zeros. `max_length` is the longest training row,
capped at `MAX_SEQUENCE_LENGTH = 500`. `Sequences` does the same on word ids,
with one difference: Keras drops words beyond `num_words`, here they become
the out-of-vocabulary id 1, so the row keeps its length and word positions.
"""

from __future__ import annotations

import numpy as np

from streamfit.errors import check_number
from streamfit.features.base import FeatureExtractor
from streamfit.prepare.vocabulary import FIRST_WORD_ID, OOV_ID


class Sequences(FeatureExtractor):
    """Fixed-length word-id rows, truncated and padded at the start.

    Args:
        num_words: ids `>= num_words` become OOV (1); with ids sorted by
            descending document frequency this keeps the `num_words - 2`
            most frequent words (default 20000, the guide's).
        max_length: the longest sequence (default 500, the guide's).

    Fitted attributes:
        length_: the sequence length, `min(max_length, longest training
            row)`, at least 1.

    Example:
        >>> seqs = Sequences().fit(max_row_length=2470)
        >>> x = seqs.transform(offsets, ids)    # int64 [n_rows, 500]
    """

    name = "sequences"
    _config_keys = ("num_words", "max_length")
    _state_keys = ("length",)

    def __init__(self, num_words: int = 20000, max_length: int = 500):
        # Ids 0 and 1 are padding and out-of-vocabulary: the first word is id 2.
        check_number("num_words", num_words, minimum=FIRST_WORD_ID + 1)
        check_number("max_length", max_length, minimum=1)
        self.num_words = num_words
        self.max_length = max_length

    @property
    def num_features(self) -> int:
        """Number of distinct ids in the output (the embedding size needed)."""
        return self.num_words

    def fit(self, max_row_length: int) -> Sequences:
        """Fix the sequence length from the longest training row.

        Args:
            max_row_length: words in the longest training row. A corpus of
                empty rows still gets length 1, so models have a position.

        Returns:
            self.
        """
        self.length_ = max(1, min(self.max_length, int(max_row_length)))
        return self

    def transform(self, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Pad and truncate a batch of rows at the start.

        Args:
            offsets: int64 `[n_rows + 1]` row offsets into `ids`.
            ids: int word ids of the rows, concatenated.

        Returns:
            int64 `[n_rows, length_]`: each row's last `length_` ids (ids
            `>= num_words` replaced by 1), right-aligned after leading zeros.

        Raises:
            UserError: not fitted.
        """
        self._check_fitted()
        offsets = np.asarray(offsets, dtype=np.int64)
        length = self.length_
        n_rows = len(offsets) - 1
        lengths = np.diff(offsets)
        row = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
        # from_end: 1 for a row's last token, 2 for the one before, ...
        from_end = np.repeat(offsets[1:], lengths) - np.arange(len(ids), dtype=np.int64)
        keep = from_end <= length
        kept = np.asarray(ids)[keep].astype(np.int64)
        kept[kept >= self.num_words] = OOV_ID
        out = np.zeros((n_rows, length), dtype=np.int64)
        out[row[keep], length - from_end[keep]] = kept
        return out
