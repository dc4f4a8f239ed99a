"""Vowpal Wabbit, logistic loss on word bigrams, 3 cached passes, as a careful user runs it.

    python bench/peers/vw_run.py --train TRAIN --test TEST --text text --label label

The pip package ships no ``vw`` binary, so this drives the same learner
through ``vowpalwabbit.Workspace`` with the command-line arguments a user
would type: ``--loss_function logistic --ngram 2 -c --passes 3`` (plus
``--oaa K`` for K > 2 classes; two classes get -1/1 labels). TRAIN is
converted to VW lines (normalized as fastText's example script does, ``|``
removed, shuffled because the corpora come sorted by label); the distinct
labels are scanned first, since VW must be told K. Both count in the wall
time. Prints one JSON line with accuracy and row counts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from _common import (
    ShuffledWriter,
    base_parser,
    iter_batches,
    label_ids,
    line_bytes,
    normalize,
    report,
    scan_classes,
)


def vw_text(text: pa.Array) -> pa.Array:
    """Documents as one VW namespace: normalized, without VW's ``|`` and ``:`` separators."""
    return pc.binary_join_element_wise("|f", pc.replace_substring(normalize(text), "|", " "), " ")


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--ngram", type=int, default=2)
    parser.add_argument(
        "--bits", type=int, default=18, help="-b: log2 of the weight table (VW default 18)"
    )
    args = parser.parse_args()

    from vowpalwabbit import Workspace

    classes = scan_classes(args.train, args)
    binary = len(classes) == 2
    # VW labels: -1/1 for logistic regression, 1..K for one-against-all.
    vw_labels = np.array(["-1", "1"] if binary else [str(i + 1) for i in range(len(classes))])

    with tempfile.TemporaryDirectory(prefix="vw-") as tmp:
        tmp = Path(tmp)
        writer = ShuffledWriter(tmp / "train.vw", args.seed)
        for text, labels in iter_batches(args.train, args):
            lab = pa.array(vw_labels[label_ids(labels, classes)])
            writer.write(pc.binary_join_element_wise(lab, vw_text(text), " "))
        train_rows = writer.close()

        options = (
            f"--loss_function logistic --ngram {args.ngram} -b {args.bits} --random_seed {args.seed}"
            + ("" if binary else f" --oaa {len(classes)}")
        )
        Workspace(
            f"-d {tmp / 'train.vw'} -c --cache_file {tmp / 'train.cache'} --passes {args.passes} "
            f"{options} -f {tmp / 'model'} --quiet"
        ).finish()

        y_true = []
        with open(tmp / "test.vw", "wb") as out:
            for text, labels in iter_batches(args.test, args):
                y_true.append(label_ids(labels, classes))
                out.write(line_bytes(vw_text(text)))
        Workspace(f"-t -i {tmp / 'model'} -d {tmp / 'test.vw'} -p {tmp / 'pred'} --quiet").finish()
        pred = np.loadtxt(tmp / "pred", ndmin=1)

    y_pred = (pred > 0).astype(np.int64) if binary else pred.astype(np.int64) - 1
    report(np.concatenate(y_true), y_pred, train_rows)


if __name__ == "__main__":
    main()
