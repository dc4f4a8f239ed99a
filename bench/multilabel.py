"""Multi-label: streamfit, fastText (-loss ova) and scikit-learn one-vs-rest, side by side.

    .venv-bench/bin/python bench/multilabel.py                      # all three, once
    .venv-bench/bin/python bench/multilabel.py --repeat 3 --out bench/runs/multilabel.json

The corpus is ``bench/multilabel_corpus.py``'s (20 Newsgroups posts, a third
of the rows mixtures of posts of 2-3 groups; built into ``--corpus`` on first
use, not timed). Each system trains on its train split and labels every row
of its test split, as a subprocess of its own, one after the other:

| system | what runs |
| --- | --- |
| streamfit | ``streamfit train train.ft --multi-label`` then ``streamfit predict BUNDLE test.ft`` (the bundle's tuned threshold) |
| fastText | ``fasttext.train_supervised(loss="ova", wordNgrams=2, ...)`` on ``train.ft``, then ``predict(k=-1, threshold=0.5)`` |
| scikit-learn | ``OneVsRestClassifier(LogisticRegression())`` on ``TfidfVectorizer(ngram_range=(1, 2))`` of ``train.jsonl``, ``predict`` (probability 0.5) |

Every system writes its predicted label sets to a file, and the scores come
from one function (`scores`) for all three: micro-F1, macro-F1 (the mean of
the 20 labels' F1), subset accuracy (the row's set exactly right), plus
Hamming loss and micro precision/recall in ``--out``. A row given no label
counts as predicting none. Each system is measured as ``bench/compare.py``
measures (`compare.measure`): wall time from start to exit (reading,
converting, training, predicting, writing the predictions), CPU time, and
peak RSS summed over the process tree; for streamfit the two processes'
times are summed and the larger peak kept. ``streamfit evaluate --json`` is
run afterwards, untimed, and its micro-F1 checked against `scores`' (the
same predictions must give the same number).

Peer settings: fastText takes the command of its own multi-label tutorial
(``-lr 0.5 -epoch 25 -wordNgrams 2 -bucket 200000 -dim 50 -loss ova``) on 2
threads, with the text normalized as fastText's example script does (as in
``bench/peers/``); ``--fasttext-epoch 50 --fasttext-lr 1.0`` lifts its
micro-F1 from 0.567 to 0.621 at 2.3x the time. scikit-learn:
``TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)`` and
``LogisticRegression(C=1e6, solver="liblinear")`` per label on 2 jobs. At
``predict``'s probability 0.5, with each label on about 7% of the rows, any
real regularisation leaves many rows without a label, so C was swept on the
test set itself (the peer's best case) and the best kept: micro-F1 0.20 at
C=1 (the default; ``TfidfVectorizer``'s defaults: 0.22), 0.56 at 10, 0.63 at
100, 0.66 at 1e3, 0.67 at 1e4, 0.680 at 1e5, 0.682 at 1e6. ``--sklearn-c``
takes another value.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from compare import measure, streamfit_command
from multilabel_corpus import build as build_corpus

from streamfit.recipe.evaluation import MultiLabelCounts

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
SYSTEMS = ("streamfit", "fasttext", "sklearn")
NAMES = {"streamfit": "streamfit", "fasttext": "fastText (-loss ova)",
         "sklearn": "scikit-learn OvR logistic regression"}
PREFIX = "__label__"


def read_label_sets(path: Path) -> list[list[str]]:
    """The ``labels`` of each line of a JSON Lines file (the truth, or a system's predictions)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["labels"] for line in f]


def write_label_sets(path: Path, label_sets) -> None:
    """One ``{"labels": [...]}`` line per row, as `read_label_sets` reads it."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"labels": list(s)}) + "\n" for s in label_sets)


def indicator(label_sets: list[list[str]], labels: list[str]) -> np.ndarray:
    """A (rows, labels) 0/1 matrix; a label outside ``labels`` is refused.

    Raises:
        ValueError: For an unknown label (a system predicting a label it never saw).
    """
    index = {label: j for j, label in enumerate(labels)}
    out = np.zeros((len(label_sets), len(labels)), dtype=bool)
    for i, row in enumerate(label_sets):
        for label in row:
            if label not in index:
                raise ValueError(f"row {i + 1}: label {label!r} is not one of the corpus' labels")
            out[i, index[label]] = True
    return out


def scores(truth: list[list[str]], predicted: list[list[str]], labels: list[str]) -> dict:
    """The multi-label scores of one system's predictions, the same function for every system.

    The counting is streamfit's own (`streamfit.recipe.evaluation.MultiLabelCounts`,
    scikit-learn's definitions with ``zero_division=0``), so that the table and
    ``streamfit evaluate`` agree by construction.

    Args:
        truth: Each test row's true labels.
        predicted: Each test row's predicted labels (possibly none), in the same order.
        labels: Every label of the corpus; macro-F1 averages over all of them.

    Returns:
        ``micro_f1``, ``macro_f1``, ``subset_accuracy``, ``hamming_loss``,
        ``micro_precision``, ``micro_recall``.

    Raises:
        ValueError: When the row counts differ, or a label is not in ``labels``.
    """
    if len(truth) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted rows for {len(truth)} test rows")
    counts = MultiLabelCounts(labels)
    counts.update(indicator(truth, labels), indicator(predicted, labels))
    report = counts.report()
    keys = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "micro_precision",
            "micro_recall")
    return {key: float(report[key]) for key in keys}


# --- the runners, each started as `python bench/multilabel.py --run SYSTEM` (a subprocess) ---


def run_fasttext(corpus: Path, predictions: Path, seed: int, threads: int, epoch: int,
                 lr: float) -> None:
    """fastText's multi-label tutorial settings on the corpus; predictions k=-1, threshold 0.5."""
    import fasttext
    import pyarrow as pa

    sys.path.insert(0, str(PEERS))
    from _common import normalize

    def texts_and_labels(path: Path) -> tuple[list[str], list[str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        prefixes, texts = [], []
        for line in lines:
            words = line.split(" ")
            n = next((k for k, w in enumerate(words) if not w.startswith(PREFIX)), len(words))
            prefixes.append(" ".join(words[:n]))
            texts.append(" ".join(words[n:]))
        return prefixes, normalize(pa.array(texts, pa.string())).to_pylist()

    with tempfile.TemporaryDirectory(prefix="fasttext-ml-") as tmp:
        train_txt = Path(tmp) / "train.txt"
        prefixes, texts = texts_and_labels(corpus / "train.ft")
        train_txt.write_text("".join(f"{p} {t}\n" for p, t in zip(prefixes, texts, strict=True)),
                             encoding="utf-8")
        model = fasttext.train_supervised(
            input=str(train_txt), loss="ova", lr=lr, epoch=epoch, wordNgrams=2, bucket=200000,
            dim=50, thread=threads, seed=seed, verbose=0)
    _, test_texts = texts_and_labels(corpus / "test.ft")
    predicted, _ = model.predict(test_texts, k=-1, threshold=0.5)
    write_label_sets(predictions, ([w[len(PREFIX):] for w in row] for row in predicted))


def run_sklearn(corpus: Path, predictions: Path, c: float, jobs: int) -> None:
    """TF-IDF 1-2 grams, one logistic regression per label; labels at probability >= 0.5."""
    import pyarrow.json as pa_json
    from joblib import parallel_config
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    train = pa_json.read_json(corpus / "train.jsonl")
    binarizer = MultiLabelBinarizer()
    y = binarizer.fit_transform(train.column("labels").to_pylist())
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                 dtype=np.float32)
    x = vectorizer.fit_transform(train.column("text").to_pylist())
    del train
    model = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear"), n_jobs=jobs)
    # Memory-mapped (read-only) inputs make liblinear fail in the workers: send copies.
    with parallel_config(max_nbytes=None):
        model.fit(x, y)
    del x
    test = pa_json.read_json(corpus / "test.jsonl")
    p = model.predict(vectorizer.transform(test.column("text").to_pylist()))
    write_label_sets(predictions, binarizer.inverse_transform(p))


# --- the harness ---


def streamfit_run(corpus: Path, predictions: Path, env: dict, timeout_s: float,
                  extra_args: list[str]) -> tuple:
    """``streamfit train --multi-label`` then ``streamfit predict``, measured as one run.

    Returns:
        The combined measure and streamfit's own ``evaluate --json`` report
        (None when a step failed).
    """
    sf = streamfit_command()
    with tempfile.TemporaryDirectory(prefix="streamfit-ml-") as tmp:
        bundle, raw = Path(tmp) / "bundle", Path(tmp) / "predicted.jsonl"
        first = measure([*sf, "train", str(corpus / "train.ft"), "--multi-label", "--output",
                         str(bundle), "--cache", str(Path(tmp) / "cache"), "--seed", "0",
                         "--verbose", "0", *extra_args], env, timeout_s)
        if first.returncode != 0:
            return first, None
        second = measure([*sf, "predict", str(bundle), str(corpus / "test.ft"), "--output",
                          str(raw)], env, timeout_s)
        first.wall_s += second.wall_s
        first.cpu_s += second.cpu_s
        first.peak_rss_mb = max(first.peak_rss_mb, second.peak_rss_mb)
        first.returncode = second.returncode
        first.stderr += second.stderr
        if second.returncode != 0:
            return first, None
        with open(raw, encoding="utf-8") as f:
            # a row streamfit could not read has null labels: it predicted none
            write_label_sets(predictions, ([label for label, _ in json.loads(line)["labels"] or []]
                                           for line in f))
        own = measure([*sf, "evaluate", str(bundle), str(corpus / "test.ft"), "--json"], env,
                      timeout_s)
        report = json.loads(own.stdout) if own.returncode == 0 else None
    return first, report


def ensure_corpus(corpus: Path, seed: int) -> None:
    """Build the corpus into ``corpus`` unless it is there, made with the same seed."""
    stats = corpus / "stats.json"
    if stats.exists() and json.loads(stats.read_text()).get("seed") == seed and all(
        (corpus / f"{s}.{ext}").exists() for s in ("train", "test") for ext in ("ft", "jsonl")
    ):
        return
    print(f"building the corpus into {corpus} ...", file=sys.stderr, flush=True)
    build_corpus(corpus, seed=seed)


def markdown(summary: dict[str, dict]) -> str:
    """The table: medians, wall time as a ratio to streamfit's."""
    lines = ["| system | micro-F1 | macro-F1 | subset accuracy | wall s | wall ×streamfit "
             "| CPU s | peak RSS MB | load |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base = summary.get("streamfit", {})
    for system, s in summary.items():
        if s["status"] != "ok":
            lines.append(f"| {NAMES[system]} | {s['status']} | | | | | | | |")
            continue
        ratio = (f"{s['wall_s'] / base['wall_s']:.2f}" if base.get("status") == "ok"
                 and system != "streamfit" else "–")
        lines.append(
            f"| {NAMES[system]} | {s['micro_f1']:.4f} | {s['macro_f1']:.4f} "
            f"| {100 * s['subset_accuracy']:.2f}% | {s['wall_s']:.1f} | {ratio} "
            f"| {s['cpu_s']:.1f} | {s['peak_rss_mb']:.0f} | {s['load_before']:.1f} |")
    return "\n".join(lines)


def summarize(runs: list[dict]) -> dict:
    """Medians over the repeats of one system."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return {"status": runs[0]["status"], "detail": runs[0].get("detail", "")}
    keys = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "wall_s", "cpu_s",
            "peak_rss_mb", "load_before")
    return {"status": "ok", "runs": len(ok),
            **{k: statistics.median(r[k] for r in ok) for k in keys}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="of " + ",".join(SYSTEMS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per system; medians shown")
    parser.add_argument("--corpus", type=Path, default=BENCH / "runs" / "multilabel",
                        help="the corpus folder (built there on first use)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus' and the systems' seed")
    parser.add_argument("--out", type=Path, help="every run and the medians, as JSON")
    parser.add_argument("--streamfit-args", default="",
                        help="extra arguments for `streamfit train`, e.g. '--model mlp'")
    parser.add_argument("--threads", type=int, default=2, help="fastText threads (default 2)")
    parser.add_argument("--fasttext-epoch", type=int, default=25, help="fastText epochs (25)")
    parser.add_argument("--fasttext-lr", type=float, default=0.5, help="fastText lr (0.5)")
    parser.add_argument("--sklearn-c", type=float, default=1e6,
                        help="LogisticRegression's C (default 1e6)")
    parser.add_argument("--sklearn-jobs", type=int, default=2, help="OneVsRest's n_jobs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    parser.add_argument("--run", choices=SYSTEMS[1:], help=argparse.SUPPRESS)
    parser.add_argument("--predictions", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run:  # inside the measured subprocess of one peer
        if args.run == "fasttext":
            run_fasttext(args.corpus, args.predictions, args.seed, args.threads,
                         args.fasttext_epoch, args.fasttext_lr)
        else:
            run_sklearn(args.corpus, args.predictions, args.sklearn_c, args.sklearn_jobs)
        return

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in SYSTEMS:
            parser.error(f"unknown system {s!r}; choose from {','.join(SYSTEMS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    ensure_corpus(args.corpus, args.seed)
    truth = read_label_sets(args.corpus / "test.jsonl")
    labels = sorted({label for row in read_label_sets(args.corpus / "train.jsonl")
                     for label in row} | {label for row in truth for label in row})

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    runs, summary = [], {}
    for system in systems:
        system_runs = []
        for i in range(args.repeat):
            print(f"{system} run {i + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
            record = {"system": system, "repeat": i}
            with tempfile.TemporaryDirectory(prefix="multilabel-") as tmp:
                predictions = Path(tmp) / "predictions.jsonl"
                own = None
                if system == "streamfit":
                    m, own = streamfit_run(args.corpus, predictions, env, args.timeout,
                                           shlex.split(args.streamfit_args))
                else:
                    m = measure([sys.executable, str(Path(__file__).resolve()), "--run", system,
                                 "--corpus", str(args.corpus), "--predictions", str(predictions),
                                 "--seed", str(args.seed), "--threads", str(args.threads),
                                 "--fasttext-epoch", str(args.fasttext_epoch),
                                 "--fasttext-lr", str(args.fasttext_lr),
                                 "--sklearn-c", str(args.sklearn_c),
                                 "--sklearn-jobs", str(args.sklearn_jobs)], env, args.timeout)
                record.update(wall_s=m.wall_s, cpu_s=m.cpu_s, peak_rss_mb=m.peak_rss_mb,
                              load_before=m.load_before, returncode=m.returncode)
                if m.returncode != 0 or not predictions.exists():
                    record.update(status="failed", detail=m.stderr[-2000:])
                    print(f"  failed: {m.stderr[-800:]}", file=sys.stderr, flush=True)
                else:
                    record.update(status="ok",
                                  **scores(truth, read_label_sets(predictions), labels))
            if own is not None:
                record["streamfit_evaluate"] = own
                theirs = own.get("micro_f1")
                if theirs is not None and abs(theirs - record.get("micro_f1", theirs)) > 1e-6:
                    print(f"  note: streamfit evaluate says micro-F1 {theirs:.6f}, the shared "
                          f"function {record['micro_f1']:.6f}", file=sys.stderr, flush=True)
            if record["status"] == "ok":
                print(f"  micro-F1 {record['micro_f1']:.4f}, macro-F1 {record['macro_f1']:.4f}, "
                      f"subset {record['subset_accuracy']:.4f}, {m.wall_s:.1f} s, "
                      f"{m.peak_rss_mb:.0f} MB", file=sys.stderr, flush=True)
            system_runs.append(record)
        runs.extend(system_runs)
        summary[system] = summarize(system_runs)

    print(markdown(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "corpus": json.loads((args.corpus / "stats.json").read_text()),
            "summary": summary, "runs": runs,
            "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}, indent=2))


if __name__ == "__main__":
    main()
