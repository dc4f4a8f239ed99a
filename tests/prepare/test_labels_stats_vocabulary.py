import numpy as np
import pyarrow as pa

from streamfit.prepare.labels import LabelCounter, LabelMap, sort_labels
from streamfit.prepare.stats import LengthStats, samples_per_word_ratio
from streamfit.prepare.tokenize import Tokenizer
from streamfit.prepare.vocabulary import Vocabulary


def test_labels_sort_numerically_when_all_are_integers():
    assert sort_labels(["10", "2", "1"]) == ["1", "2", "10"]
    assert sort_labels(["pos", "neg", "10"]) == ["10", "neg", "pos"]


def test_label_map_encodes_and_marks_unknown_labels():
    counter = LabelCounter()
    counter.update(pa.array(["b", "a", "b"]))
    counter.update(pa.array(["c"]))
    assert counter.counts == {"b": 2, "a": 1, "c": 1}
    labels = counter.label_map()
    assert labels.names == ["a", "b", "c"]
    assert labels.encode(pa.array(["c", "a", "zzz"])).tolist() == [2, 0, -1]
    assert len(LabelMap(["x"])) == 1


def test_exact_median_from_the_histogram():
    stats = LengthStats()
    stats.update(Tokenizer()(pa.array(["a b c", "a", "a b"])))
    assert stats.median() == 2
    stats.update(Tokenizer()(pa.array(["a b c d e f"])))
    assert stats.median() == 2.5 and stats.rows == 4 and stats.max_length == 6
    assert samples_per_word_ratio(4, 2.5) == 1.6


def test_vocabulary_orders_by_document_frequency_then_word():
    vocab = Vocabulary.from_counts(pa.array(["b", "a", "c", "rare"]), np.array([5, 5, 9, 1]),
                                   min_df=2, max_words=10)
    assert vocab.words.to_pylist() == ["c", "a", "b"]
    assert len(vocab) == 5
    offsets, ids = vocab.lookup(pa.array([["a", "rare", "c"], [], ["b"]]))
    assert offsets.tolist() == [0, 3, 3, 4]
    assert ids.tolist() == [3, 1, 2, 4]
    top = Vocabulary.from_counts(pa.array(["b", "a", "c"]), np.array([5, 5, 9]), min_df=1, max_words=2)
    assert top.words.to_pylist() == ["c", "a"]
    assert Vocabulary.from_table(vocab.to_table()).words.to_pylist() == ["c", "a", "b"]


def test_a_few_tokens_and_many_get_the_same_ids():
    # Under len(words) / 20 tokens `lookup` reads a dict; above, pyarrow's index_in.
    words = [f"w{i}" for i in range(2000)] + ["", "é", "a b"]
    vocabulary = Vocabulary(pa.array(words))
    expected = {word: i + 2 for i, word in enumerate(words)}
    rng = np.random.default_rng(0)
    for size in (0, 3, 99, 101, 5000):
        rows = [[f"w{i}" for i in rng.integers(0, 2400, size)], ["", "é", "a b", "unknown"], []]
        offsets, ids = vocabulary.lookup(pa.array(rows, pa.list_(pa.string())))
        flat = [token for row in rows for token in row]
        assert ids.dtype == np.int32 and ids.tolist() == [expected.get(t, 1) for t in flat]
        assert offsets.tolist() == np.cumsum([0] + [len(row) for row in rows]).tolist()
