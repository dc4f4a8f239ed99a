"""Tokenization: raw text to lists of word tokens, columnar over whole chunks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Letters, digits, combining marks, "_" and apostrophes make a token ("don't"
#: and "naïve" stay one word); everything else, markup like "<br />" included,
#: separates tokens. Unicode classes, since RE2's \w is ASCII-only.
DEFAULT_PATTERN = r"[^\pL\pN\pM_']+"


class Tokenizer:
    """Split text into word tokens with pyarrow.compute (no per-row Python).

    Args:
        lowercase: fold case before splitting.
        pattern: a regular expression (RE2 syntax) that matches separators.
    """

    def __init__(self, lowercase: bool = True, pattern: str = DEFAULT_PATTERN):
        self.lowercase = lowercase
        self.pattern = pattern

    def __call__(self, text: pa.Array | pa.ChunkedArray) -> pa.ListArray:
        """Return one list of non-empty tokens per row of `text`.

        A row with no tokens gives an empty list, never a null.
        """
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if self.lowercase:
            text = pc.utf8_lower(text)
        lists = pc.split_pattern_regex(text, self.pattern)
        tokens = pc.list_flatten(lists)
        rows = np.asarray(pc.list_parent_indices(lists))
        keep = pc.not_equal(pc.binary_length(tokens), 0)
        tokens = tokens.filter(keep)
        rows = rows[np.asarray(keep, dtype=bool)]
        offsets = np.zeros(len(text) + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=len(text)), out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), tokens)

    def get_config(self) -> dict:
        return {"lowercase": self.lowercase, "pattern": self.pattern}
