import json
from collections import Counter

import numpy as np
import pytest

from streamfit.errors import UserError
from streamfit.features import build_extractor
from streamfit.features.hashing import HashedNgrams, hash_keys

MASK = 2 ** 64 - 1
V = 50


def reference_hash(key, seed):
    """SplitMix64 finaliser with Python ints, as the module docstring writes it."""
    x = (key + seed * 0x9E3779B97F4A7C15) & MASK
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def reference_row(row, num_buckets, seed, n_max=2):
    columns = Counter()
    for n in range(1, n_max + 1):
        for i in range(len(row) - n + 1):
            gram = row[i:i + n]
            if min(gram) < 2:
                continue
            key = 0
            for w in gram:
                key = key * V + w
            columns[key if n == 1 else V + reference_hash(key, seed) % num_buckets] += 1
    return columns


def to_csr(rows):
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return offsets, np.array([w for r in rows for w in r], dtype=np.int32)


@pytest.mark.parametrize("seed", [0, 7, 2 ** 64 - 1])
def test_hash_matches_python_ints(seed):
    keys = np.array([0, 2, 12345, 49 * V + 49, 2 ** 62 + 3], dtype=np.int64)
    assert hash_keys(keys, seed).tolist() == [reference_hash(int(k), seed) for k in keys]


@pytest.mark.parametrize("weighting", ["count", "mean"])
def test_columns_and_weights_match_reference(weighting):
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, V, size=rng.integers(0, 15)).tolist() for _ in range(40)]
    rows[3] = []
    hashed = HashedNgrams(num_buckets=97, seed=3, weighting=weighting).fit(V)
    x = hashed.transform(*to_csr(rows))
    assert x.shape == (40, V + 97) and x.dtype == np.float32 and x.has_sorted_indices
    for r, row in enumerate(rows):
        expected = reference_row(row, 97, 3)
        total = sum(expected.values())
        got = dict(zip(x[r].indices.tolist(), x[r].data.tolist(), strict=True))
        want = {c: (n if weighting == "count" else n / total) for c, n in expected.items()}
        assert got.keys() == want.keys()
        assert all(abs(got[c] - want[c]) < 1e-6 for c in want)
    assert x[3].nnz == 0
    assert x[:, :2].nnz == 0  # padding and OOV columns stay empty


def test_unigrams_only_and_bigrams_only():
    rows = [[2, 3, 2]]
    assert HashedNgrams(ngram_range=(1, 1), weighting="count").fit(V).transform(
        *to_csr(rows)).toarray()[0, [2, 3]].tolist() == [2, 1]
    x = HashedNgrams(ngram_range=(2, 2), num_buckets=8).fit(V).transform(*to_csr(rows))
    assert x.indices.min() >= V and x.data.sum() == pytest.approx(1.0)


def test_config_and_state_round_trip():
    hashed = HashedNgrams(ngram_range=(1, 3), num_buckets=64, seed=5, weighting="count").fit(V)
    restored = build_extractor("hashing", json.loads(json.dumps(hashed.get_config())))
    restored.load_state_dict(hashed.state_dict())
    batch = to_csr([[2, 3, 4, 5], [9, 9]])
    assert (restored.transform(*batch) != hashed.transform(*batch)).nnz == 0
    assert restored.num_features == V + 64


def test_user_errors():
    with pytest.raises(UserError, match="weighting"):
        HashedNgrams(weighting="tfidf")
    with pytest.raises(UserError, match="num_buckets"):
        HashedNgrams(num_buckets=0)
    with pytest.raises(UserError, match="not fitted"):
        HashedNgrams().transform(*to_csr([[2]]))
