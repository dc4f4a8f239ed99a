r"""The "zhang" preset: the CSV layout of DBPedia, Yelp, Amazon and AG News.

Zhang et al. (2015) wrote these datasets as headerless CSVs: the label (1..N)
in column 0, then one or more text columns (title, description), every field
quoted, `""` for a quote. Line breaks inside a text were escaped, and the
files do it two ways, so the convention is detected per file from its first
chunk that has a backslash:

- "\n" style (Yelp, Amazon, DBPedia, and what the datasets' readme says): the
  two characters `\` `n` are a line break.
- backslash style (AG News): a lone `\` is the line break ("second\team"
  means "second", break, "team"), and `\$` is a dollar sign. Turning `\n`
  into a break there would eat the first letter of "\network".

The style is the "\n" one when at least half of the backslashes that are not
`\$` are followed by `n`. Either way every escaped break becomes a real "\n",
so no literal `\n` is left in the text.

Column selection for the preset lives in `columns.select_columns`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BACKSLASH = ord("\\")


def _count(text: pa.Array, pattern: str) -> int:
    return int(pc.sum(pc.count_substring(text, pattern)).as_py() or 0)


def rows_with_byte(text: pa.Array, byte: int) -> np.ndarray:
    """Indexes of the values of a string array that contain `byte` (numpy over its buffers)."""
    if len(text) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    hits = data == byte
    if not hits.any():
        return np.zeros(0, dtype=np.int64)
    found = np.flatnonzero(hits) + offsets[0]
    return np.unique(np.searchsorted(offsets, found, side="right") - 1)


class ZhangUnescape:
    """Turn the escaped line breaks of one Zhang-layout file into real ones.

    Call it on each chunk's text array, in file order; it decides the escape
    style on the first chunk that has a backslash and keeps it for the file.
    """

    def __init__(self):
        self.style: str | None = None

    def __call__(self, text: pa.Array) -> pa.Array:
        """Return `text` with escaped line breaks replaced by "\\n"."""
        rows = rows_with_byte(text, BACKSLASH)
        if len(rows) == 0:
            return text
        # Only the few rows with a backslash are rewritten.
        escaped = text.take(pa.array(rows))
        if self.style is None:
            backslashes = _count(escaped, "\\") - _count(escaped, "\\$")
            self.style = "n" if 2 * _count(escaped, "\\n") >= backslashes else "backslash"
        if self.style == "n":
            fixed = pc.replace_substring(escaped, "\\n", "\n")
        else:
            fixed = pc.replace_substring(pc.replace_substring(escaped, "\\$", "$"), "\\", "\n")
        mask = np.zeros(len(text), dtype=bool)
        mask[rows] = True
        return pc.replace_with_mask(text, pa.array(mask), fixed)
