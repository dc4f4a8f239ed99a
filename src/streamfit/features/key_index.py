"""`KeyIndex`: the column of each n-gram key, found by a vectorised hash table.

The keys are the prepare layer's (`streamfit.prepare.ngrams`); the TF-IDF
extractor looks up its selected n-grams with this index.
"""

from __future__ import annotations

import numpy as np


class KeyIndex:
    """Position of int64 keys in a fixed key list: a vectorised open-addressing hash table.

    `np.searchsorted` over unsorted queries is cache-hostile (a 128-row batch
    of IMDB bigrams took 3.4 ms against 20k keys); a table of 4x as many
    slots, Fibonacci-hashed and linearly probed, answers the same batch in a
    few tenths of a millisecond.

    Keys below `dense_below` (the unigrams, whose keys are their word ids) are
    found by one gather from a plain array instead: half of an IMDB batch's
    keys are unigrams, and the hash table then holds only the longer n-grams,
    which halved the lookup (4.3 to 2.0 ms per 512 rows).

    Args:
        keys: unique non-negative int64 keys; `keys[j]` is found at position j.
        dense_below: keys below it go to the direct array of that many entries
            (0: none).
    """

    _FIBONACCI = np.uint64(0x9E3779B97F4A7C15)
    _EMPTY = -1

    def __init__(self, keys: np.ndarray, dense_below: int = 0):
        self.keys = np.asarray(keys, dtype=np.int64)
        self._dense_below = dense_below
        small = self.keys < dense_below
        # One entry past the end, -1, answers every key at or above dense_below.
        self._dense = np.full(dense_below + 1, -1, dtype=np.int64)
        self._dense[self.keys[small]] = np.flatnonzero(small)
        hashed = np.flatnonzero(~small)
        bits = max(4, int(len(hashed) * 4 - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._slots = np.full(1 << bits, -1, dtype=np.int64)
        pending = hashed
        slot = self._home(self.keys[hashed])
        while len(pending):
            free = self._slots[slot] == -1
            # Several keys may want one free slot; the first of each takes it.
            claimed, first = np.unique(slot[free], return_index=True)
            self._slots[claimed] = pending[free][first]
            placed = np.zeros(len(pending), dtype=bool)
            placed[np.flatnonzero(free)[first]] = True
            pending = pending[~placed]
            slot = (slot[~placed] + 1) & self._mask
        self._slot_keys = np.full(len(self._slots), self._EMPTY, dtype=np.int64)
        filled = np.flatnonzero(self._slots >= 0)
        self._slot_keys[filled] = self.keys[self._slots[filled]]

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * self._FIBONACCI) >> self._shift).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key in the key list, or -1 where it is absent.

        Args:
            keys: int64 keys to look up.

        Returns:
            int64 positions, same length as `keys`.
        """
        keys = np.asarray(keys, dtype=np.int64)
        if not self._dense_below:
            return self._lookup_hashed(keys)
        found = self._dense[np.minimum(keys, self._dense_below)]
        large = np.flatnonzero(keys >= self._dense_below)
        if len(large):
            found[large] = self._lookup_hashed(keys[large])
        return found

    def lookup_small(self, keys: np.ndarray) -> np.ndarray:
        """`lookup` of keys all below `dense_below` (a unigram order's): one gather."""
        return self._dense[keys]

    def lookup_large(self, keys: np.ndarray) -> np.ndarray:
        """`lookup` of int64 keys all at or above `dense_below` (a longer order's, or keys
        the caller masks out): the hash table alone, no split by size."""
        return self._lookup_hashed(keys)

    def _lookup_hashed(self, keys: np.ndarray) -> np.ndarray:
        slot = self._home(keys)
        # Gathers and compares over all keys, then masks only on the few that
        # must probe on: dense boolean masks over half-hit data cost more
        # than the whole lookup.
        stored = self._slot_keys[slot]
        found = np.where(stored == keys, self._slots[slot], -1)
        active = np.flatnonzero((stored != keys) & (stored != self._EMPTY))
        slot = (slot[active] + 1) & self._mask
        while len(active):
            stored = self._slot_keys[slot]
            hit = stored == keys[active]
            found[active[hit]] = self._slots[slot[hit]]
            going = ~hit & (stored != self._EMPTY)
            active = active[going]
            slot = (slot[going] + 1) & self._mask
        return found
