import csv
import os

import numpy as np
import pytest

from streamfit.errors import OptionError, UserError
from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare
from streamfit.sources import SourceSpec


def spec(path, **kw):
    return SourceSpec((str(path),), **kw)


def test_prepares_token_ids_labels_vocabulary_and_counts(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 300)
    ds = load_or_prepare(spec(data), PrepareOptions(), tmp_path / "cache")
    assert not ds.reused
    assert ds.labels.names == ["neg", "pos"]
    assert len(ds.train) == 300 and ds.validation is None
    assert ds.stats["classes"] == {"neg": 150, "pos": 150}
    assert ds.manifest["accounting"]["rows_read"] == 300
    # every stored row decodes back to its tokens
    words = ["<pad>", "<oov>"] + ds.vocabulary.words.to_pylist()
    with open(data) as f:
        first = next(r for i, r in enumerate(csv.DictReader(f)) if i == 7)
    offsets, ids, labels = ds.train.take(np.array([7]))
    assert [words[i] for i in ids] == first["text"].split()
    assert ds.labels.names[labels[0]] == first["label"]
    counts = ds.ngram_counts
    assert counts.class_counts.tolist() == [150, 150]
    assert counts.class_df.shape == (len(counts.keys), 2)


def test_cache_is_reused_when_nothing_changed_and_rebuilt_when_something_did(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 200)
    cache = tmp_path / "cache"
    first = load_or_prepare(spec(data), PrepareOptions(), cache)
    assert not first.reused
    assert load_or_prepare(spec(data), PrepareOptions(), cache).reused
    # other options: rebuilt
    assert not load_or_prepare(spec(data), PrepareOptions(min_df=1), cache).reused
    assert load_or_prepare(spec(data), PrepareOptions(min_df=1), cache).reused
    # the file changed (new content and mtime): rebuilt with the new rows
    write_corpus(data, 240, seed=1)
    os.utime(data, ns=(1, 1))
    rebuilt = load_or_prepare(spec(data), PrepareOptions(min_df=1), cache)
    assert not rebuilt.reused and len(rebuilt.train) == 240
    # no stray temporary folders left next to the cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "cache"]


def test_validation_split_is_deterministic_and_seed_stable(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 1000)

    def held_out(seed, cache):
        ds = load_or_prepare(spec(data), PrepareOptions(validation_split=0.2, seed=seed), tmp_path / cache)
        offsets, ids, _ = ds.validation.take(np.arange(len(ds.validation)))
        return len(ds.train), [tuple(ids[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]

    n_train, rows = held_out(5, "c1")
    assert (n_train, rows) == held_out(5, "c2")
    assert 150 < len(rows) < 250 and n_train + len(rows) == 1000
    assert held_out(6, "c3")[1] != rows


def test_validation_labels_training_never_saw_are_reported_not_mapped(tmp_path, write_corpus):
    train = write_corpus(tmp_path / "train.csv", 100)
    validation = write_corpus(tmp_path / "val.csv", 30, labels=("neg", "pos", "meh"))
    ds = load_or_prepare(spec(train), PrepareOptions(), tmp_path / "cache", validation=spec(validation))
    report = ds.manifest["validation_accounting"]
    assert report["skipped"] == {"unseen_label": 10}
    assert report["rows_used"] == 20 and len(ds.validation) == 20
    assert report["examples"]["unseen_label"][0] == f"{validation}:4"


def test_one_label_only_is_an_error(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 20, labels=("x",))
    with pytest.raises(UserError, match="only one label"):
        load_or_prepare(spec(data), PrepareOptions(), tmp_path / "cache")


@pytest.mark.parametrize("option, value, message", [
    ("validation_split", 1.5, r"^validation_split=1.5 must be a number in \[0, 1\)$"),
    ("min_df", 0, r"^min_df=0 must be an integer >= 1$"),
    ("max_words", 0, r"^max_words=0 must be an integer >= 1$"),
    ("seed", -1, r"^seed=-1 must be an integer in \[0, 18446744073709551616\)$"),
])
def test_bad_options_are_named_by_their_argument(option, value, message):
    with pytest.raises(OptionError, match=message) as error:
        PrepareOptions(**{option: value})
    assert (error.value.option, error.value.value) == (option, value)
