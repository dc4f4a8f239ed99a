import numpy as np
import pytest

from streamfit.errors import UserError
from streamfit.prepare.ngrams import (
    check_ngram_range,
    doc_ngram_keys,
    ngram_key,
    ngram_order,
    ngram_words,
)


def reference_ngram_keys(rows, n_min, n_max, vocab_size):
    """Slow pure-Python listing: (row, key) in the documented order."""
    out = []
    for n in range(n_min, n_max + 1):
        for r, row in enumerate(rows):
            for i in range(len(row) - n + 1):
                gram = row[i:i + n]
                if min(gram) >= 2:
                    key = 0
                    for w in gram:
                        key = key * vocab_size + w
                    out.append((r, key))
    return out


def to_csr(rows):
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    ids = np.array([w for r in rows for w in r], dtype=np.int32)
    return offsets, ids


def test_keys_of_small_rows_exact():
    offsets, ids = to_csr([[2, 3, 4], [5], [], [2, 1, 3]])
    row, keys = doc_ngram_keys(offsets, ids, 1, 3, vocab_size=10)
    assert row.tolist() == [0, 0, 0, 1, 3, 3, 0, 0, 0]
    assert keys.tolist() == [2, 3, 4, 5, 2, 3, 23, 34, 234]


def test_ngrams_never_cross_rows_and_skip_pad_and_oov():
    # Row 0 ends with 7 and row 1 starts with 8: no key 7*V+8; 0 and 1 break n-grams.
    offsets, ids = to_csr([[5, 7], [8, 9, 0, 6, 6, 1, 4]])
    row, keys = doc_ngram_keys(offsets, ids, 2, 2, vocab_size=10)
    assert list(zip(row.tolist(), keys.tolist(), strict=True)) == [(0, 57), (1, 89), (1, 66)]


def test_keys_match_reference_on_random_rows():
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 30, size=rng.integers(0, 12)).tolist() for _ in range(200)]
    offsets, ids = to_csr(rows)
    for n_min, n_max in [(1, 1), (1, 2), (2, 3), (1, 3)]:
        row, keys = doc_ngram_keys(offsets, ids, n_min, n_max, vocab_size=30)
        assert list(zip(row.tolist(), keys.tolist(), strict=True)) == reference_ngram_keys(rows, n_min, n_max, 30)


def test_empty_batches_and_rows_shorter_than_n():
    offsets, ids = to_csr([[], [3]])
    row, keys = doc_ngram_keys(offsets, ids, 2, 3, vocab_size=10)
    assert row.tolist() == [] and keys.tolist() == []
    row, keys = doc_ngram_keys(np.zeros(1, np.int64), np.zeros(0, np.int32), 1, 2, 10)
    assert len(row) == 0 and len(keys) == 0


def test_key_functions_round_trip_and_orders_never_collide():
    v = 1000
    uni = ngram_key([np.array([2, 999])], v)
    bi = ngram_key(np.array([[2, 2], [999, 999]]), v)
    tri = ngram_key([np.array([2]), np.array([3]), np.array([4])], v)
    assert uni.tolist() == [2, 999]
    assert bi.tolist() == [2 * v + 2, 999 * v + 999]
    assert uni.max() < bi.min() and bi.max() < tri.min()
    assert ngram_order(np.concatenate([uni, bi, tri]), v).tolist() == [1, 1, 2, 2, 3]
    assert ngram_words(int(tri[0]), v) == (2, 3, 4)


def test_bad_arguments_raise_user_errors():
    offsets, ids = to_csr([[2, 3]])
    with pytest.raises(UserError, match="n_min <= n_max"):
        doc_ngram_keys(offsets, ids, 2, 1, 10)
    with pytest.raises(UserError, match="overflows"):
        check_ngram_range((1, 4), 2 ** 20)
    with pytest.raises(UserError, match="outside the vocabulary"):
        doc_ngram_keys(offsets, ids, 1, 2, 3)
    with pytest.raises(UserError, match="offsets"):
        doc_ngram_keys(np.array([0, 5]), ids, 1, 2, 10)
