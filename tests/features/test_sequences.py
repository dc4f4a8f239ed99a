import json

import numpy as np
import pytest

from streamfit.errors import UserError
from streamfit.features import build_extractor
from streamfit.features.sequences import Sequences


def reference_pad(rows, num_words, length):
    """Keras' pad_sequences(padding='pre', truncating='pre') after OOV mapping."""
    out = []
    for row in rows:
        row = [w if w < num_words else 1 for w in row][-length:] if row else []
        out.append([0] * (length - len(row)) + row)
    return out


def to_csr(rows):
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return offsets, np.array([w for r in rows for w in r], dtype=np.int32)


def test_truncates_and_pads_at_the_start():
    seqs = Sequences(num_words=10, max_length=3).fit(max_row_length=7)
    out = seqs.transform(*to_csr([[2, 3, 4, 5, 6], [7], [], [2, 12, 3]]))
    assert out.dtype == np.int64
    assert out.tolist() == [[4, 5, 6], [0, 0, 7], [0, 0, 0], [2, 1, 3]]


def test_length_is_longest_training_row_capped_by_max_length():
    assert Sequences(max_length=500).fit(max_row_length=42).length_ == 42
    assert Sequences(max_length=500).fit(max_row_length=2470).length_ == 500
    assert Sequences().fit(max_row_length=0).length_ == 1


def test_matches_reference_on_random_rows():
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 40, size=rng.integers(0, 20)).tolist() for _ in range(100)]
    seqs = Sequences(num_words=25, max_length=12).fit(max(map(len, rows)))
    assert seqs.transform(*to_csr(rows)).tolist() == reference_pad(rows, 25, 12)


def test_config_and_state_round_trip():
    seqs = Sequences(num_words=30, max_length=8).fit(5)
    restored = build_extractor("sequences", json.loads(json.dumps(seqs.get_config())))
    restored.load_state_dict(seqs.state_dict())
    assert restored.length_ == 5 and isinstance(restored.length_, int)
    batch = to_csr([[2, 3, 40], [5] * 9])
    assert (restored.transform(*batch) == seqs.transform(*batch)).all()


def test_user_errors():
    with pytest.raises(UserError, match="num_words"):
        Sequences(num_words=2)
    with pytest.raises(UserError, match="not fitted"):
        Sequences().transform(*to_csr([[2]]))
    with pytest.raises(UserError, match="unknown"):
        build_extractor("bert")
