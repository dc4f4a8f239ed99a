"""`streamfit predict` start-up and throughput: the numpy path, the torch path before it, fastText.

    python bench/predict.py [--data ../shared/datasets/imdb] [--repeat 3] [--before-rev c0545af]

On the IMDB corpus it trains a streamfit mlp bundle (`streamfit train`, the
defaults) and a fastText model (`train_supervised`, the settings of
`peers/fasttext_run.py`: word bigrams, dim 10, 10 epochs, lr 0.25, 2
threads), then times, as subprocesses from start to exit, medians of
`--repeat` runs:

- start-up: predicting a one-line text file (the first test review);
- throughput: predicting the 25,000 test reviews, one per line in one text
  file (newlines in a review made spaces), written to a file;

for three predictors: `streamfit predict` as it is (numpy/scipy, no torch),
`streamfit predict` as it was before the torch-free predictor (the source at
`--before-rev`, extracted with `git archive`, on the same bundle saved as
its `weights.pt` form), and fastText's `predict` through its Python binding
(`fasttext.load_model(...).predict(lines)`, reading the same file and writing
one label per line; the fastText command-line binary is not installed
here). It also reports each predictor's test accuracy, and whether the two
streamfit paths name the same label for every review.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "imdb"
FASTTEXT_PREDICT = """
import sys, fasttext
model = fasttext.load_model(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as file:
    lines = file.read().splitlines()
labels, _ = model.predict(lines, k=1)
with open(sys.argv[3], "w", encoding="utf-8") as out:
    out.write("\\n".join(label[0][len("__label__"):] if label else "" for label in labels) + "\\n")
"""


def reviews(path: Path) -> tuple[list[str], list[str]]:
    """(labels, texts) of an IMDB CSV, each text on one line."""
    csv.field_size_limit(1 << 24)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    return ([row["label"] for row in rows],
            [" ".join(row["text"].replace("\r", " ").replace("\n", " ").split()) for row in rows])


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of `command` (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median(command: list[str], repeat: int, env: dict | None = None) -> tuple[float, float]:
    """Medians of (wall, CPU) seconds over `repeat` runs."""
    runs = [timed(command, env) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def streamfit_labels(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as file:
        return [row["label"] for row in csv.DictReader(file)]


def accuracy(predicted: list[str], truth: list[str]) -> float:
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)


def legacy_copy(bundle: Path, legacy: Path) -> None:
    """The bundle as streamfit wrote it before weights.npz: weights.pt, no 'weights' field."""
    import shutil

    import numpy as np
    import torch

    shutil.copytree(bundle, legacy, ignore=shutil.ignore_patterns("checkpoints"))
    with np.load(legacy / "weights.npz", allow_pickle=False) as data:
        torch.save({key: torch.from_numpy(data[key]) for key in data.files}, legacy / "weights.pt")
    (legacy / "weights.npz").unlink()
    meta = json.loads((legacy / "bundle.json").read_text())
    meta.pop("weights", None)
    (legacy / "bundle.json").write_text(json.dumps(meta, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the imdb folder (train.csv.gz, test.csv.gz)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before-rev", default="c0545af",
                        help="the git revision of the torch path (before the torch-free predictor)")
    parser.add_argument("--work", type=Path, default=None, help="a folder to keep (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-predict-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    streamfit = [python, "-m", "streamfit"]

    truth, texts = reviews(args.data / "test.csv.gz")
    (work / "test.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (work / "one_line.txt").write_text(texts[0] + "\n", encoding="utf-8")

    bundle, legacy, before = work / "bundle", work / "legacy", work / "before"
    if not (bundle / "bundle.json").exists():
        started = time.perf_counter()
        subprocess.run([*streamfit, "train", str(args.data / "train.csv.gz"), "--output", str(bundle),
                        "--cache", str(work / "cache"), "--model", "mlp", "--verbose", "0"], check=True)
        print(f"streamfit train: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if not legacy.exists():
        legacy_copy(bundle, legacy)
    if not before.exists():
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before_rev, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    old_env = {**os.environ, "PYTHONPATH": str(before / "src")}
    check = subprocess.run([python, "-c", "import streamfit; print(streamfit.__file__)"], env=old_env,
                           check=True, capture_output=True, text=True).stdout
    assert check.startswith(str(before)), check

    model = work / "fasttext.bin"
    if not model.exists():
        import fasttext

        train_labels, train_texts = reviews(args.data / "train.csv.gz")
        lines = [f"__label__{label} {text}" for label, text in zip(train_labels, train_texts, strict=True)]
        import random

        random.Random(0).shuffle(lines)  # the corpus comes sorted by label
        (work / "train.ft").write_text("\n".join(lines) + "\n", encoding="utf-8")
        fasttext.train_supervised(input=str(work / "train.ft"), dim=10, epoch=10, lr=0.25, wordNgrams=2,
                                  thread=2, seed=0, verbose=0).save_model(str(model))

    predictors = {
        "streamfit predict (numpy, no torch)":
            (lambda data, out: [*streamfit, "predict", str(bundle), str(data), "--output", str(out)], None),
        f"streamfit predict before (torch, {args.before_rev})":
            (lambda data, out: [*streamfit, "predict", str(legacy), str(data), "--output", str(out)], old_env),
        "fastText predict (Python binding)":
            (lambda data, out: [python, "-c", FASTTEXT_PREDICT, str(model), str(data), str(out)], None),
    }
    rows, outputs = [], {}
    for name, (command, env) in predictors.items():
        start_s = median(command(work / "one_line.txt", work / "one.out.csv"), args.repeat, env)
        out = work / f"out-{len(rows)}.csv"
        full_s = median(command(work / "test.txt", out), args.repeat, env)
        labels = (streamfit_labels(out) if name.startswith("streamfit")
                  else out.read_text(encoding="utf-8").splitlines())
        outputs[name] = labels
        rows.append((name, *start_s, *full_s, len(texts) / full_s[0], accuracy(labels, truth)))
    numpy_labels, torch_labels = (outputs[name] for name in list(predictors)[:2])
    same = sum(a == b for a, b in zip(numpy_labels, torch_labels, strict=True))

    print(f"IMDB test, {len(texts)} reviews; medians of {args.repeat} runs; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| predictor | one-line start-up (wall / CPU) | 25k reviews (wall / CPU) | reviews/s (wall) "
          "| accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for name, start_s, start_cpu, full_s, full_cpu, rate, acc in rows:
        print(f"| {name} | {start_s:.2f} s / {start_cpu:.2f} s | {full_s:.2f} s / {full_cpu:.2f} s "
              f"| {rate:,.0f} | {acc:.4f} |")
    new, old, peer = rows
    print(f"\nnumpy path against the torch path: start-up {old[1] / new[1]:.1f}x faster (wall), "
          f"throughput {new[5] / old[5]:.1f}x (wall), {old[4] / new[4]:.1f}x less CPU; "
          f"the same label for {same} of {len(texts)} reviews")
    print(f"numpy path against fastText: throughput {new[5] / peer[5]:.2f}x (wall), CPU "
          f"{peer[4] / new[4]:.2f}x")
    print(f"(work folder: {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
