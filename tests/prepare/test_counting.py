import numpy as np
import pyarrow as pa
import pytest

from streamfit.prepare.counting import DocFrequencyCounter


def reference(chunks, num_classes):
    counts = {}
    for values, rows, classes in chunks:
        seen = set()
        for v, r in zip(values, rows, strict=True):
            if (r, v) not in seen:
                seen.add((r, v))
                counts.setdefault(v, [0] * num_classes)[classes[r] if classes is not None else 0] += 1
    return counts


def test_document_frequencies_per_class_match_a_reference():
    rng = np.random.default_rng(0)
    chunks = []
    for _ in range(5):
        n_rows = 40
        rows = np.sort(rng.integers(0, n_rows, 500))
        values = [f"w{v}" for v in rng.integers(0, 60, 500)]
        chunks.append((values, rows, rng.integers(0, 3, n_rows)))
    counter = DocFrequencyCounter(3)
    for values, rows, classes in chunks:
        counter.update(pa.array(values), rows, classes)
    values, df = counter.result()
    got = {v: list(map(int, d)) for v, d in zip(values.to_pylist(), df, strict=True)}
    assert got == reference(chunks, 3)
    assert counter.pruned_max_df == 0


def test_int_keys_and_one_class():
    counter = DocFrequencyCounter(1)
    counter.update(pa.array(np.array([5, 5, 7, 5], dtype=np.int64)), np.array([0, 0, 0, 1]))
    values, df = counter.result()
    assert dict(zip(values.to_pylist(), df[:, 0].tolist(), strict=True)) == {5: 2, 7: 1}


@pytest.mark.parametrize("as_keys", [False, True])
def test_pruning_bounds_the_table_and_keeps_the_most_frequent(as_keys):
    counter = DocFrequencyCounter(1, max_entries=10)
    for chunk in range(30):
        # value 0 ("common") is in every document; each chunk also brings 20 new rare values
        ids = [0] * 4 + [1000 * (chunk + 1) + i for i in range(20)]
        values = pa.array(np.array(ids, dtype=np.int64)) if as_keys else pa.array([f"w{v}" for v in ids])
        counter.update(values, np.array([0, 1, 2, 3] + [i % 4 for i in range(20)]))
        assert len(counter.result()[0]) <= 10
    values, df = counter.result()
    found = dict(zip(values.to_pylist(), df[:, 0].tolist(), strict=True))
    assert found[0 if as_keys else "w0"] == 120
    assert counter.pruned_max_df >= 1


def test_int_keys_per_class_match_a_reference():
    rng = np.random.default_rng(1)
    chunks = []
    for _ in range(6):
        rows = np.sort(rng.integers(0, 30, 400))
        chunks.append((rng.integers(0, 80, 400).tolist(), rows, rng.integers(0, 2, 30)))
    counter = DocFrequencyCounter(2)
    for values, rows, classes in chunks:
        counter.update(pa.array(np.array(values, dtype=np.int64)), rows, classes)
    values, df = counter.result()
    assert values.to_pylist() == sorted(values.to_pylist())
    got = {v: list(map(int, d)) for v, d in zip(values.to_pylist(), df, strict=True)}
    assert got == reference(chunks, 2)
