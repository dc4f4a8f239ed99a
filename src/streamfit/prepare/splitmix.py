"""SplitMix64, the one 64-bit mixer: the validation split and hashed n-gram columns.

`splitmix64(x, increment)` adds `increment` to each uint64 and mixes the sum
with SplitMix64's finaliser, in wrapping uint64 arithmetic:

    x = (x + increment) mod 2**64
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9
    x ^= x >> 27; x *= 0x94D049BB133111EB
    x ^= x >> 31

With the default increment (the golden ratio, 0x9E3779B97F4A7C15) it is one
step of Vigna's SplitMix64 generator. Prepared caches (their validation rows)
and saved bundles (their hashed columns) depend on these exact values.
"""

from __future__ import annotations

import numpy as np

GOLDEN = 0x9E3779B97F4A7C15
"""2**64 / the golden ratio: SplitMix64's increment."""

_MASK64 = 2 ** 64 - 1
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray, increment: int = GOLDEN) -> np.ndarray:
    """Mix `x + increment` with SplitMix64's finaliser (see the module docstring).

    Args:
        x: uint64 values (any integer array is converted).
        increment: any Python integer, taken modulo 2**64.

    Returns:
        A new uint64 array, the same shape as `x`.

    Example:
        >>> splitmix64(np.array([0], dtype=np.uint64)).tolist()
        [16294208416658607535]
    """
    x = np.asarray(x, dtype=np.uint64) + np.uint64(increment & _MASK64)
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x
