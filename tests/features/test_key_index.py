import numpy as np

from streamfit.features.key_index import KeyIndex


def test_key_index_finds_present_keys_and_rejects_absent_ones():
    rng = np.random.default_rng(1)
    keys = rng.choice(10 ** 12, size=5000, replace=False).astype(np.int64)
    index = KeyIndex(keys)
    queries = np.concatenate([keys, keys[::-1], rng.integers(0, 10 ** 12, size=5000)])
    expected = {int(k): j for j, k in enumerate(keys)}
    assert index.lookup(queries).tolist() == [expected.get(int(q), -1) for q in queries]
    assert KeyIndex(np.zeros(0, np.int64)).lookup(np.array([5])).tolist() == [-1]


def test_key_index_with_a_direct_array_for_small_keys_answers_as_the_hash_table_does():
    rng = np.random.default_rng(2)
    small = rng.choice(1000, size=300, replace=False)
    large = rng.choice(np.arange(1000, 10 ** 9), size=3000, replace=False)
    keys = rng.permutation(np.concatenate([small, large])).astype(np.int64)
    direct = KeyIndex(keys, dense_below=1000)
    queries = np.concatenate([keys, rng.integers(0, 2000, size=3000), rng.integers(0, 10 ** 9, size=3000),
                              [0, 999, 1000]]).astype(np.int64)
    expected = [{int(k): j for j, k in enumerate(keys)}.get(int(q), -1) for q in queries]
    assert direct.lookup(queries).tolist() == expected
    assert KeyIndex(keys).lookup(queries).tolist() == expected
    # Only small keys, only large keys, no keys.
    assert KeyIndex(np.array([3, 1], np.int64), dense_below=10).lookup(np.array([1, 2, 3, 50])).tolist() == [1, -1, 0, -1]
    assert KeyIndex(np.array([30], np.int64), dense_below=10).lookup(np.array([30, 3])).tolist() == [0, -1]
    assert KeyIndex(np.zeros(0, np.int64), dense_below=10).lookup(np.array([5, 50])).tolist() == [-1, -1]
