"""Multi-label prepare: label lists encoded compactly, counted per label, cached and checked."""

import json
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import scipy.sparse

from streamfit.errors import UserError
from streamfit.features.tfidf import NgramTfidf
from streamfit.prepare import pipeline
from streamfit.prepare.cache import (
    MULTI_LABEL_SPLIT_SCHEMA,
    CacheDamaged,
    PreparedSplit,
    SplitWriter,
)
from streamfit.prepare.counting import LabelDocFrequencyCounter
from streamfit.prepare.labels import LabelCounter, LabelMap, LabelSetCounter
from streamfit.prepare.ngrams import NgramCounts, one_vs_rest_f_score
from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare, open_prepared
from streamfit.sources import SourceSpec

WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]


def write_fasttext(path, rows):
    """`rows` of (labels, text) as a fastText file; returns the path."""
    with open(path, "w") as f:
        for labels, text in rows:
            f.write(" ".join([f"__label__{label}" for label in labels] + [text]) + "\n")
    return path


def corpus(n, seed=0, labels=("a", "b", "c", "d")):
    """Rows whose label set is drawn at random (maybe empty), with words tied to labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        held = [label for label in labels if rng.random() < 0.35]
        words = [WORDS[labels.index(label) % len(WORDS)] for label in held]
        words += list(rng.choice(WORDS, 4))
        rows.append((held, " ".join(words)))
    return rows


def spec(path, **kw):
    return SourceSpec((str(path),), format="fasttext", multi_label=True, **kw)


def dense(split, names, rows=None):
    """Multi-hot rows of a split, as label-name sets."""
    matrix = split.label_matrix(rows).toarray()
    return [{names[j] for j in np.flatnonzero(row)} for row in matrix]


def test_encode_lists_gives_sorted_distinct_ids_and_drops_unknown_labels():
    labels = LabelMap(["a", "b", "c"])
    column = pa.array([["c", "a", "c"], [], None, ["zzz", "b"], ["q"]], pa.list_(pa.string()))
    offsets, ids, unknown = labels.encode_lists(column)
    assert offsets.dtype == np.int64 and ids.dtype == np.int32
    assert offsets.tolist() == [0, 2, 2, 2, 3, 3]
    assert ids.tolist() == [0, 2, 1]
    assert unknown == 2
    chunked = pa.chunked_array([column.slice(0, 2), column.slice(2)])
    assert [a.tolist() for a in labels.encode_lists(chunked)[:2]] == [offsets.tolist(), ids.tolist()]


def test_label_counter_counts_rows_per_label_of_lists():
    counter = LabelCounter()
    counter.update(pa.array([["a", "b"], [], ["b"]], pa.list_(pa.string())))
    counter.update(pa.array([["c", "b"]], pa.list_(pa.string())))
    assert counter.counts == {"a": 1, "b": 3, "c": 1}
    assert counter.labels == 5


def test_label_sets_are_counted_whatever_the_order_and_bounded():
    labels = LabelMap(["a", "b", "c"])
    sets = LabelSetCounter()
    sets.update(*labels.encode_lists(pa.array([["a", "c"], [], ["c", "a"], ["b"]]))[:2])
    sets.update(*labels.encode_lists(pa.array([[], ["a", "b", "c"], ["c"]]))[:2])
    assert sets.count == 5 and sets.exact  # {a,c}, {}, {b}, {a,b,c}, {c}
    capped = LabelSetCounter(limit=2)
    capped.update(*labels.encode_lists(pa.array([["a"], ["b"], ["c"], ["a", "b"]]))[:2])
    assert capped.count == 2 and not capped.exact


def test_a_multi_label_split_round_trips_as_label_lists_and_csr_rows(tmp_path):
    writer = SplitWriter(tmp_path / "train.arrow", multi_label=True)
    writer.write(np.array([0, 2, 3]), np.array([5, 6, 7], np.int32),
                 (np.array([0, 2, 2]), np.array([0, 3], np.int32)))
    writer.write(np.array([0, 1]), np.array([8], np.int32), (np.array([0, 1]), np.array([1], np.int32)))
    writer.close()
    assert ipc.open_file(str(tmp_path / "train.arrow")).schema.equals(MULTI_LABEL_SPLIT_SCHEMA)
    split = PreparedSplit(tmp_path / "train.arrow", num_classes=4)
    assert split.multi_label and split.labels is None and len(split) == 3
    assert split.label_offsets.tolist() == [0, 2, 2, 3] and split.label_values.tolist() == [0, 3, 1]
    offsets, ids, labels = split.take(np.array([2, 0, 1]))
    assert offsets.tolist() == [0, 1, 3, 4] and ids.tolist() == [8, 5, 6, 7]
    assert scipy.sparse.isspmatrix_csr(labels) and labels.dtype == np.float32
    assert labels.shape == (3, 4)
    assert labels.toarray().tolist() == [[0, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="class id 3, outside 0..2"):
        PreparedSplit(tmp_path / "train.arrow", num_classes=3)


def test_prepare_keeps_every_label_of_a_row_and_counts_rows_per_label(tmp_path):
    rows = corpus(300)
    ds = load_or_prepare(spec(write_fasttext(tmp_path / "a.txt", rows)), PrepareOptions(min_df=1),
                         tmp_path / "cache")
    assert ds.multi_label and ds.manifest["multi_label"] is True
    assert ds.labels.names == ["a", "b", "c", "d"]
    assert len(ds.train) == 300
    expected = {name: sum(name in held for held, _ in rows) for name in "abcd"}
    assert ds.stats["classes"] == expected
    assert ds.class_counts.tolist() == [expected[name] for name in "abcd"]
    assert ds.stats["label_cardinality"] == pytest.approx(sum(len(h) for h, _ in rows) / 300)
    assert ds.stats["label_sets"] == len({frozenset(h) for h, _ in rows})
    assert dense(ds.train, ds.labels.names) == [set(held) for held, _ in rows]
    words = ["<pad>", "<oov>"] + ds.vocabulary.words.to_pylist()
    _, ids, _ = ds.train.take(np.array([7]))
    assert [words[i] for i in ids] == rows[7][1].split()
    counts = ds.ngram_counts
    assert counts.multi_label and counts.num_documents == 300
    assert scipy.sparse.issparse(counts.class_df) and counts.class_df.shape == (len(counts.keys), 4)
    unigram = ds.vocabulary.lookup(pa.array([["alpha"]]))[1][0]
    at = int(np.flatnonzero(counts.keys == unigram)[0])
    holding = [held for held, text in rows if "alpha" in text.split()]
    assert counts.document_frequency()[at] == len(holding)
    assert counts.class_df[at].toarray()[0].tolist() == [sum(n in h for h in holding) for n in "abcd"]
    again = load_or_prepare(spec(tmp_path / "a.txt"), PrepareOptions(min_df=1), tmp_path / "cache")
    assert again.reused and dense(again.train, again.labels.names, [7]) == [set(rows[7][0])]


def test_unseen_validation_labels_are_dropped_and_noted_and_the_row_stays(tmp_path):
    train = write_fasttext(tmp_path / "train.txt", corpus(100))
    valid = write_fasttext(tmp_path / "valid.txt", [(["a", "new"], "alpha x"), (["new"], "beta"),
                                                    ([], "gamma"), (["b", "a"], "delta")])
    ds = load_or_prepare(spec(train), PrepareOptions(min_df=1), tmp_path / "cache", validation=spec(valid))
    assert len(ds.validation) == 4
    assert dense(ds.validation, ds.labels.names) == [{"a"}, set(), set(), {"a", "b"}]
    report = ds.manifest["validation_accounting"]
    assert report["notes"]["unseen_labels_dropped"] == 2 and report["rows_used"] == 4
    assert not report["skipped"]


def test_held_out_rows_keep_their_label_sets(tmp_path):
    rows = corpus(400, seed=3)
    ds = load_or_prepare(spec(write_fasttext(tmp_path / "a.txt", rows)),
                         PrepareOptions(min_df=1, validation_split=0.25, seed=5), tmp_path / "cache")
    got = dense(ds.train, ds.labels.names) + dense(ds.validation, ds.labels.names)
    assert sorted(map(sorted, got)) == sorted(sorted(held) for held, _ in rows)
    train_sets = dense(ds.train, ds.labels.names)
    assert ds.stats["classes"] == {n: sum(n in s for s in train_sets) for n in "abcd"}
    assert sum(ds.stats["validation_classes"].values()) == sum(map(len, dense(ds.validation, ds.labels.names)))


def test_single_label_caches_are_written_as_before(tmp_path):
    ds = load_or_prepare(SourceSpec((str(write_fasttext(tmp_path / "a.txt", corpus(50))),), format="fasttext"),
                         PrepareOptions(min_df=1), tmp_path / "cache")
    assert "multi_label" not in ds.manifest and not ds.multi_label
    assert "label_cardinality" not in ds.stats
    assert ds.train.labels.dtype == np.int32 and not ds.train.multi_label
    assert sorted(np.load(tmp_path / "cache" / "ngrams.npz").files) == ["class_counts", "class_df", "keys"]


def _edit_manifest(directory, change):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("change, problem", [
    (lambda m: m.pop("multi_label"), "train.arrow holds label lists but manifest.json says multi_label is false"),
    (lambda m: m.__setitem__("labels", m["labels"][:2]), "class id 3, outside 0..1"),
])
def test_a_cache_whose_layout_disagrees_with_its_manifest_is_damaged_and_rebuilt(tmp_path, change, problem):
    data = spec(write_fasttext(tmp_path / "a.txt", corpus(60)))
    cache = tmp_path / "cache"
    load_or_prepare(data, PrepareOptions(min_df=1), cache)
    _edit_manifest(cache, change)
    with pytest.raises(CacheDamaged, match=problem):
        open_prepared(cache)
    told = []
    rebuilt = load_or_prepare(data, PrepareOptions(min_df=1), cache, progress=told.append)
    assert not rebuilt.reused and rebuilt.multi_label
    assert any("damaged" in line and problem in line for line in told)
    _edit_manifest(cache, change)
    with pytest.raises(UserError, match="damaged"):
        load_or_prepare(spec(tmp_path / "a.txt", strict=True), PrepareOptions(min_df=1), cache)


def test_a_single_label_split_under_a_multi_label_manifest_is_damaged(tmp_path):
    data = SourceSpec((str(write_fasttext(tmp_path / "a.txt", corpus(60))),), format="fasttext")
    load_or_prepare(data, PrepareOptions(min_df=1), tmp_path / "cache")
    _edit_manifest(tmp_path / "cache", lambda m: m.__setitem__("multi_label", True))
    with pytest.raises(CacheDamaged, match="one label per row but manifest.json says multi_label is true"):
        open_prepared(tmp_path / "cache")


def _slow_cells(keys, rows, label_sets, num_labels):
    cells = {}
    for row in set(rows.tolist()):
        for key in set(keys[rows == row].tolist()):
            for column in [*label_sets[row], num_labels]:
                cells[key, column] = cells.get((key, column), 0) + 1
    return cells


def test_label_doc_frequencies_match_a_slow_count_and_prune_the_rarest_keys():
    rng = np.random.default_rng(1)
    counter = LabelDocFrequencyCounter(5, max_cells=10_000)
    expected = {}
    for _ in range(4):
        n_rows = 30
        label_sets = [sorted(rng.choice(5, rng.integers(0, 4), replace=False).tolist()) for _ in range(n_rows)]
        offsets = np.concatenate(([0], np.cumsum([len(s) for s in label_sets])))
        rows = rng.integers(0, n_rows, 200)
        keys = rng.integers(0, 40, 200).astype(np.int64)
        counter.add(*counter.count_chunk(keys, rows, offsets, np.array(sum(label_sets, []), np.int32)))
        for cell, n in _slow_cells(keys, rows, label_sets, 5).items():
            expected[cell] = expected.get(cell, 0) + n
    keys, df, indptr, labels, label_df = counter.result()
    got = {(int(k), 5): int(d) for k, d in zip(keys, df, strict=True)}
    for i, key in enumerate(keys.tolist()):
        for j in range(indptr[i], indptr[i + 1]):
            got[key, int(labels[j])] = int(label_df[j])
    assert got == expected
    small = LabelDocFrequencyCounter(2, max_cells=8)
    # key 7 in 3 rows (label 0), key 8 in 2, keys 9..12 in 1: 12 cells, pruned to at most 4
    small.add(*small.count_chunk(np.array([7, 7, 7, 8, 8, 9, 10, 11, 12]), np.array([0, 1, 2, 0, 1, 2, 2, 2, 2]),
                                 np.array([0, 1, 2, 3]), np.array([0, 0, 0], np.int32)))
    small._merge()
    keys, df, *_ = small.result()
    assert keys.tolist() == [7, 8] and df.tolist() == [3, 2] and small.pruned_max_df == 1


def _anova(x, group):
    parts = [x[group], x[~group]]
    between = sum(len(p) * (p.mean() - x.mean()) ** 2 for p in parts)
    within = sum(((p - p.mean()) ** 2).sum() for p in parts)
    if between <= 1e-12:
        return 0.0
    return np.inf if within <= 1e-12 else between / (within / (len(x) - 2))


def test_the_multi_label_score_is_the_largest_one_vs_rest_f():
    rng = np.random.default_rng(0)
    x = (rng.random((80, 40)) < 0.2).astype(float)
    y = (rng.random((80, 9)) < 0.25).astype(float)
    y[:, 8] = 0  # a label no training row holds
    x[:, 0] = y[:, 1]  # marks label 1 exactly
    x[:, 1] = 0
    x[3, 1] = 1
    x = x[:, x.sum(axis=0) > 0]
    slow = np.zeros(x.shape[1])
    for label in range(y.shape[1]):
        group = y[:, label] > 0
        if 0 < group.sum() < len(y):
            slow = np.maximum(slow, [_anova(x[:, j], group) for j in range(x.shape[1])])
    counts = NgramCounts(vocab_size=50, ngram_range=(1, 1), keys=np.arange(2, 2 + x.shape[1]),
                         class_df=scipy.sparse.csr_matrix((x.T @ y).astype(np.int64)),
                         class_counts=y.sum(axis=0).astype(np.int64), df=x.sum(axis=0).astype(np.int64),
                         documents=80)
    score = one_vs_rest_f_score(counts)
    assert np.isinf(score[0]) and np.isinf(slow[0])
    np.testing.assert_allclose(score[1:], slow[1:], rtol=1e-9)
    np.testing.assert_allclose(one_vs_rest_f_score(counts, np.arange(5, 12)), slow[5:12], rtol=1e-9)
    best = NgramTfidf(ngram_range=(1, 1), top_k=6, min_df=1).fit(counts).keys_
    finite = np.where(np.isinf(slow), np.finfo(float).max, slow)
    df = x.sum(axis=0)
    assert best.tolist() == sorted((np.lexsort((np.arange(len(df)), -df, -finite))[:6] + 2).tolist())


def test_feature_selection_on_a_prepared_multi_label_dataset_finds_the_words_of_rare_labels(tmp_path):
    rng = np.random.default_rng(2)
    rows = []
    for i in range(400):
        held = ["common"] + (["rare"] if i % 20 == 0 else [])
        text = " ".join(rng.choice(WORDS, 6)) + (" rareword" if "rare" in held else "")
        rows.append((held, text))
    ds = load_or_prepare(spec(write_fasttext(tmp_path / "a.txt", rows)), PrepareOptions(min_df=1),
                         tmp_path / "cache")
    tfidf = NgramTfidf(ngram_range=(1, 1), top_k=1, min_df=1).fit(ds.ngram_counts)
    rareword = ds.vocabulary.lookup(pa.array([["rareword"]]))[1][0]
    assert tfidf.keys_.tolist() == [rareword]
    n_docs = ds.ngram_counts.num_documents
    assert n_docs == 400  # idf counts documents, not label occurrences
    assert tfidf.idf_[0] == pytest.approx(np.log(401 / 21) + 1)


def _peak_bytes(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_thousand_labels_keep_memory_flat_in_rows_and_labels(tmp_path, monkeypatch):
    """No rows x labels (nor growing n-grams x labels) array anywhere, with 1,000 labels.

    Small read blocks (many chunks) and a small n-gram table (so both runs
    reach its bound and prune) stand for a corpus far larger than the test's.
    """
    monkeypatch.setattr(pipeline, "_NGRAM_TABLE_BYTES", 1 << 20)
    def write(name, n, num_labels, seed):
        rng = np.random.default_rng(seed)
        rows = []
        for _ in range(n):
            held = sorted({f"L{int(j)}" for j in rng.integers(0, num_labels, rng.integers(1, 4))})
            rows.append((held, " ".join(f"w{int(j)}" for j in rng.integers(0, 300, 8))))
        return write_fasttext(tmp_path / name, rows), rows

    def run(path, cache):
        def go():
            ds = load_or_prepare(spec(path, block_size=1 << 14), PrepareOptions(min_df=1), tmp_path / cache)
            NgramTfidf(top_k=2000, min_df=1).fit(ds.ngram_counts)
            from streamfit.batches.prepared import PreparedBatches  # noqa: PLC0415
            batches = PreparedBatches(ds.train, lambda offsets, ids: None, batch_size=128)
            for step in range(len(batches)):
                batches.batch(0, step)
            go.dataset = ds
        return go

    small, _ = write("small.txt", 3000, 1000, 0)
    large, rows = write("large.txt", 6000, 1000, 1)
    few, _ = write("few.txt", 6000, 50, 1)
    run(small, "warm")()  # imports and first-use allocations
    go_small, go_large, go_few = run(small, "c1"), run(large, "c2"), run(few, "c3")
    peak_small, peak_large, peak_few = _peak_bytes(go_small), _peak_bytes(go_large), _peak_bytes(go_few)
    ds = go_large.dataset
    assert len(ds.labels) == 1000 and len(ds.train) == 6000
    assert ds.stats["ngram_pruned_max_df"] > 0 and go_small.dataset.stats["ngram_pruned_max_df"] > 0
    dense_targets = len(ds.train) * len(ds.labels) * 4  # 24 MB as float32
    assert peak_large < dense_targets / 3, (peak_small, peak_large)
    assert peak_large < 1.6 * peak_small + (2 << 20), (peak_small, peak_large)  # rows doubled
    assert peak_large < 1.6 * peak_few + (2 << 20), (peak_few, peak_large)  # 20 times the labels
    labels_held = sum(len(held) for held, _ in rows)
    assert ds.train.label_values.nbytes + ds.train.label_offsets.nbytes == 4 * labels_held + 8 * 6001
    with np.load(tmp_path / "c2" / "ngrams.npz") as npz:
        assert "class_df" not in npz.files and npz["label_df"].size < 10 * npz["keys"].size


@pytest.mark.parametrize("form", ["csv", "jsonl", "parquet"])
def test_every_input_form_prepares_the_same_label_sets(tmp_path, form):
    rows = corpus(120, seed=4)
    if form == "csv":
        import csv  # noqa: PLC0415

        path = tmp_path / "a.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows([text, ";".join(held)] for held, text in rows)
        data = SourceSpec((str(path),), multi_label=True, label_sep=";")
    elif form == "jsonl":
        path = tmp_path / "a.jsonl"
        path.write_text("".join(json.dumps({"text": text, "label": held}) + "\n" for held, text in rows))
        data = SourceSpec((str(path),), multi_label=True)
    else:
        import pyarrow.parquet as pq  # noqa: PLC0415

        path = tmp_path / "a.parquet"
        pq.write_table(pa.table({"text": [t for _, t in rows], "label": [h for h, _ in rows]}), path)
        data = SourceSpec((str(path),), multi_label=True)
    ds = load_or_prepare(data, PrepareOptions(min_df=1), tmp_path / "cache")
    assert ds.multi_label and len(ds.train) == 120
    assert dense(ds.train, ds.labels.names) == [set(held) for held, _ in rows]
    assert ds.stats["label_sets"] == len({frozenset(h) for h, _ in rows})


def test_rows_that_all_hold_no_label_are_one_clear_error(tmp_path):
    data = spec(write_fasttext(tmp_path / "a.txt", [([], "alpha beta")] * 5))
    with pytest.raises(UserError, match="the training rows hold no labels"):
        load_or_prepare(data, PrepareOptions(min_df=1), tmp_path / "cache")


def test_switching_multi_label_on_or_off_rebuilds_the_cache(tmp_path):
    path = write_fasttext(tmp_path / "a.txt", corpus(60))
    single = SourceSpec((str(path),), format="fasttext")
    assert not load_or_prepare(single, PrepareOptions(min_df=1), tmp_path / "cache").multi_label
    multi = load_or_prepare(spec(path), PrepareOptions(min_df=1), tmp_path / "cache")
    assert multi.multi_label and not multi.reused
    assert not load_or_prepare(single, PrepareOptions(min_df=1), tmp_path / "cache").multi_label
