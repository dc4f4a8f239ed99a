import json
import math
from collections import Counter

import numpy as np
import pytest

from streamfit.errors import UserError
from streamfit.features import build_extractor
from streamfit.features.tfidf import NgramTfidf, f_classif_from_df
from streamfit.prepare.ngrams import NgramCounts

V = 12


def grams(row, n_min, n_max):
    """Pure-Python n-grams of one row (tuples), skipping pad/OOV."""
    return [tuple(row[i:i + n]) for n in range(n_min, n_max + 1)
            for i in range(len(row) - n + 1) if min(row[i:i + n]) >= 2]


def key_of(gram):
    key = 0
    for w in gram:
        key = key * V + w
    return key


def reference_counts(rows, labels, num_classes, ngram_range=(1, 2)):
    df = {}
    for row, label in zip(rows, labels, strict=True):
        for gram in set(grams(row, *ngram_range)):
            df.setdefault(key_of(gram), [0] * num_classes)[label] += 1
    keys = sorted(df)
    return NgramCounts(V, ngram_range, np.array(keys, np.int64),
                       np.array([df[k] for k in keys], np.int64).reshape(len(keys), num_classes),
                       np.bincount(labels, minlength=num_classes).astype(np.int64))


def reference_f(presence, labels):
    """One-way ANOVA F of each column of a 0/1 matrix, from the textbook formulas."""
    classes = sorted(set(labels))
    n, k = len(labels), len(classes)
    scores = []
    for column in presence.T:
        grand = sum(column) / n
        groups = [[x for x, y in zip(column, labels, strict=True) if y == c] for c in classes]
        between = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups)
        within = sum((x - sum(g) / len(g)) ** 2 for g in groups for x in g)
        if between < 1e-12:
            scores.append(0.0)
        elif within == 0:
            scores.append(math.inf)
        else:
            scores.append((between / (k - 1)) / (within / (n - k)))
    return np.array(scores)


def to_csr(rows):
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return offsets, np.array([w for r in rows for w in r], dtype=np.int32)


def random_corpus(seed, n_rows=60, num_classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=n_rows)
    # Class-dependent word frequencies, so some n-grams carry signal.
    rows = [(rng.integers(2, V, size=rng.integers(0, 9)) + label * rng.integers(0, 2)).clip(
        0, V - 1).tolist() for label in labels]
    rows[0] = []
    rows[1] = [1, 1, 0]
    return rows, labels


def reference_tfidf(rows, counts, selected, sublinear=False):
    n_docs = counts.class_counts.sum()
    df = dict(zip(counts.keys.tolist(), counts.class_df.sum(axis=1).tolist(), strict=True))
    column = {k: j for j, k in enumerate(selected)}
    out = np.zeros((len(rows), len(selected)))
    for r, row in enumerate(rows):
        for key, tf in Counter(key_of(g) for g in grams(row, 1, 2)).items():
            if key in column:
                weight = (1 + math.log(tf)) if sublinear else tf
                out[r, column[key]] = weight * (math.log((1 + n_docs) / (1 + df[key])) + 1)
        norm = math.sqrt((out[r] ** 2).sum())
        if norm:
            out[r] /= norm
    return out


def test_f_classif_matches_anova_on_presence_matrix():
    rows, labels = random_corpus(0)
    counts = reference_counts(rows, labels, 3)
    row_keys = [{key_of(g) for g in grams(row, 1, 2)} for row in rows]
    presence = np.array([[1.0 if k in keys else 0.0 for k in counts.keys.tolist()]
                         for keys in row_keys])
    expected = reference_f(presence, labels.tolist())
    got = f_classif_from_df(counts.class_df, counts.class_counts)
    assert np.allclose(got, expected, rtol=1e-9, atol=1e-12)
    try:
        from sklearn.feature_selection import f_classif
    except ImportError:
        return
    sk, _ = f_classif(presence, labels)
    finite = np.isfinite(sk)
    assert np.allclose(got[finite], sk[finite], rtol=1e-7)


def test_f_classif_edge_cases():
    # Perfect separator -> inf; constant feature -> 0; one class -> all 0.
    f = f_classif_from_df(np.array([[5, 0], [5, 5], [0, 0]]), np.array([5, 5]))
    assert f.tolist() == [math.inf, 0.0, 0.0]
    assert f_classif_from_df(np.array([[3, 0]]), np.array([5, 0])).tolist() == [0.0]


@pytest.mark.parametrize("selection", ["f_classif", "frequency"])
def test_selection_is_the_reference_top_k(selection):
    rows, labels = random_corpus(1)
    counts = reference_counts(rows, labels, 3)
    tfidf = NgramTfidf(top_k=15, selection=selection, min_df=2).fit(counts)
    df = counts.class_df.sum(axis=1)
    score = (f_classif_from_df(counts.class_df, counts.class_counts) if selection == "f_classif"
             else df.astype(float))
    ranked = sorted((-s, -d, k) for s, d, k in zip(score, df, counts.keys.tolist(), strict=True) if d >= 2)
    assert tfidf.keys_.tolist() == sorted(k for _, _, k in ranked[:15])
    assert tfidf.num_features == 15
    assert tfidf.keys_.dtype == np.int64 and tfidf.idf_.dtype == np.float32


@pytest.mark.parametrize("sublinear", [False, True])
def test_transform_values_match_reference(sublinear):
    rows, labels = random_corpus(2)
    counts = reference_counts(rows, labels, 3)
    tfidf = NgramTfidf(top_k=20, sublinear_tf=sublinear).fit(counts)
    x = tfidf.transform(*to_csr(rows))
    assert x.dtype == np.float32 and x.shape == (len(rows), 20)
    assert x.has_sorted_indices
    expected = reference_tfidf(rows, counts, tfidf.keys_.tolist(), sublinear)
    assert np.allclose(x.toarray(), expected, atol=1e-6)
    assert x[0].nnz == 0 and x[1].nnz == 0  # empty row, row of pad/OOV only
    empty = tfidf.transform(np.zeros(3, np.int64), np.zeros(0, np.int32))
    assert empty.shape == (2, 20) and empty.nnz == 0


def test_transform_without_norm_gives_tf_times_idf():
    counts = reference_counts([[2, 3, 3], [3, 4], [2, 3]], np.array([0, 1, 0]), 2)
    tfidf = NgramTfidf(top_k=None, norm=None, min_df=1).fit(counts)
    x = tfidf.transform(*to_csr([[3, 3, 3, 2]])).toarray()[0]
    column = {k: j for j, k in enumerate(tfidf.keys_.tolist())}
    idf3 = math.log(4 / 4) + 1
    idf33 = math.log(4 / 2) + 1
    assert x[column[3]] == pytest.approx(3 * idf3)
    assert x[column[3 * V + 3]] == pytest.approx(2 * idf33)
    assert 3 * V + 2 not in column  # "3 2" was never seen in training: no column
    assert np.count_nonzero(x) == 3  # "2", "3" and "3 3"


def test_matches_scikit_learn_when_available():
    text = pytest.importorskip("sklearn.feature_extraction.text")
    rows, labels = random_corpus(3)
    counts = reference_counts(rows, labels, 3)
    ours = NgramTfidf(top_k=None, min_df=2).fit(counts)
    vectorizer = text.TfidfVectorizer(analyzer=lambda row: [key_of(g) for g in grams(row, 1, 2)],
                                      min_df=2)
    expected = vectorizer.fit_transform(rows).toarray()
    order = [vectorizer.vocabulary_[k] for k in ours.keys_.tolist()]
    assert len(order) == len(vectorizer.vocabulary_)
    assert np.allclose(ours.transform(*to_csr(rows)).toarray(), expected[:, order], atol=1e-6)


def test_config_and_state_round_trip():
    rows, labels = random_corpus(4)
    counts = reference_counts(rows, labels, 3)
    tfidf = NgramTfidf(top_k=10, sublinear_tf=True).fit(counts)
    config = json.loads(json.dumps(tfidf.get_config()))
    state = tfidf.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    restored = build_extractor("tfidf", config)
    restored.load_state_dict(state)
    batch = to_csr(rows)
    assert (restored.transform(*batch) != tfidf.transform(*batch)).nnz == 0
    assert restored.ngram_range == (1, 2) and restored.vocab_size_ == V


def test_user_errors():
    counts = reference_counts([[2, 3], [3, 4]], np.array([0, 1]), 2)
    with pytest.raises(UserError, match="not fitted"):
        NgramTfidf().transform(*to_csr([[2]]))
    with pytest.raises(UserError, match="prepare again"):
        NgramTfidf(ngram_range=(1, 3)).fit(counts)
    with pytest.raises(UserError, match="min_df"):
        NgramTfidf(min_df=5).fit(counts)
    with pytest.raises(UserError, match="selection"):
        NgramTfidf(selection="chi2")
    with pytest.raises(UserError, match="lacks"):
        NgramTfidf().load_state_dict({"keys": np.zeros(0)})
