"""scikit-learn's out-of-core recipe: HashingVectorizer + SGDClassifier.partial_fit over chunks.

    python bench/peers/sklearn_run.py --train TRAIN --test TEST --text text --label label

This is the recipe of scikit-learn's "Out-of-core classification of text
documents" example, made to run a few passes: word 1-2 grams hashed into
2**20 features (``alternate_sign=False``, rows L2-normalized), an
``SGDClassifier`` updated with ``partial_fit`` on chunks of ``--chunk`` rows.
The distinct labels are scanned first (``partial_fit`` must be told the
classes) and TRAIN is written once to a shuffled one-document-per-line file,
since the corpora come sorted by label and SGD over sorted chunks learns only
the last class; every pass streams that file. Both count in the wall time.
Prints one JSON line with accuracy and row counts.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from _common import ShuffledWriter, base_parser, iter_batches, label_ids, report, scan_classes


def one_line(text: pa.Array) -> pa.Array:
    """Documents with every run of white space (newlines, tabs) made one space."""
    return pc.replace_substring_regex(text, r"\s+", " ")


def read_chunks(path: Path, size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Stream (label ids, documents) chunks of ``size`` rows from an ``id<TAB>text`` file."""
    with open(path, encoding="utf-8") as f:
        while chunk := list(itertools.islice(f, size)):
            ids, docs = zip(*(line.rstrip("\n").split("\t", 1) for line in chunk), strict=True)
            yield np.array(ids, dtype=np.int64), list(docs)


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=2000, help="rows per partial_fit call")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=1e-5, help="SGDClassifier L2 strength")
    args = parser.parse_args()

    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import SGDClassifier

    classes = scan_classes(args.train, args)
    vectorizer = HashingVectorizer(
        ngram_range=(1, 2), n_features=2**20, alternate_sign=False, decode_error="ignore"
    )
    model = SGDClassifier(alpha=args.alpha, random_state=args.seed)
    all_ids = np.arange(len(classes))

    with tempfile.TemporaryDirectory(prefix="sklearn-") as tmp:
        train_txt = Path(tmp) / "train.tsv"
        writer = ShuffledWriter(train_txt, args.seed)
        for text, labels in iter_batches(args.train, args):
            ids = pa.array(label_ids(labels, classes)).cast(pa.string())
            writer.write(pc.binary_join_element_wise(ids, one_line(text), "\t"))
        train_rows = writer.close()
        for _ in range(args.passes):
            for y, docs in read_chunks(train_txt, args.chunk):
                model.partial_fit(vectorizer.transform(docs), y, classes=all_ids)

    y_true, y_pred = [], []
    for text, labels in iter_batches(args.test, args):
        y_true.append(label_ids(labels, classes))
        y_pred.append(model.predict(vectorizer.transform(one_line(text).to_pylist())))
    report(np.concatenate(y_true), np.concatenate(y_pred), train_rows)


if __name__ == "__main__":
    main()
