"""fastText supervised on a delimited corpus, as a careful user runs it.

    python bench/peers/fasttext_run.py --train TRAIN --test TEST --text text --label label

Converts TRAIN to ``__label__X text`` lines (normalized as fastText's own
example script does, shuffled because the corpora come sorted by label),
trains with word bigrams, dim 10, 10 epochs, lr 0.25 on 2 threads, predicts
TEST in blocks and prints one JSON line with accuracy and row counts.
Conversion counts in the wall time: it is what a user pays.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from _common import ShuffledWriter, base_parser, iter_batches, label_ids, normalize, report

PREFIX = "__label__"


def main() -> None:
    started = time.perf_counter()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--epoch", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.25)
    parser.add_argument("--word-ngrams", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import fasttext

    with tempfile.TemporaryDirectory(prefix="fasttext-") as tmp:
        train_txt = Path(tmp) / "train.txt"
        writer = ShuffledWriter(train_txt, args.seed)
        for text, labels in iter_batches(args.train, args):
            prefixed = pc.binary_join_element_wise(PREFIX, labels, "")
            writer.write(pc.binary_join_element_wise(prefixed, normalize(text), " "))
        train_rows = writer.close()
        model = fasttext.train_supervised(
            input=str(train_txt),
            dim=args.dim,
            epoch=args.epoch,
            lr=args.lr,
            wordNgrams=args.word_ngrams,
            thread=args.threads,
            seed=args.seed,
            verbose=0,
        )
    # CSV to trained model, the span `streamfit train` covers (minus interpreter start).
    train_wall_s = time.perf_counter() - started

    classes = [label[len(PREFIX) :] for label in model.labels]
    index = {c: i for i, c in enumerate(classes)}
    y_true, y_pred = [], []
    for text, labels in iter_batches(args.test, args):
        predicted, _ = model.predict(normalize(text).to_pylist(), k=1)
        # A document with no known word gets no label: it counts as wrong.
        y_pred.append(np.array([index[p[0][len(PREFIX) :]] if p else -1 for p in predicted]))
        y_true.append(label_ids(labels, classes))
    report(np.concatenate(y_true), np.concatenate(y_pred), train_rows, train_wall_s=train_wall_s)


if __name__ == "__main__":
    main()
