"""Small models: `streamfit quantize` against `fasttext quantize -qnorm -retrain -cutoff`.

    python bench/quantize.py --datasets imdb,20ng --out runs/quantize.json

For each dataset, streamfit trains a bundle (`streamfit train --model KIND`,
for each of `--models`) and `streamfit quantize --data TEST` writes a small
copy for each of `--cutoffs`, printing the size and test accuracy of every
step (the float bundle, after the cutoff, after int8). fastText trains as
`bench/peers/fasttext_run.py` does (word bigrams, dim 10, 10 epochs, lr
0.25, 2 threads; the same normalisation), saves its `.bin`, then quantizes it
with `qnorm=True, retrain=True, cutoff=N` for each of `--ft-cutoffs` and saves
the `.ftz`; sizes are the files' bytes, accuracies on the same test file.
The report is one Markdown table; `--out` keeps every row as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
SHARED = BENCH.parent.parent / "shared" / "datasets"
DATASETS = {"imdb": ("imdb/train.csv.gz", "imdb/test.csv.gz"),
            "20ng": ("20newsgroups/train.csv.gz", "20newsgroups/test.csv.gz")}
PREFIX = "__label__"


def streamfit(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "streamfit", *argv], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"streamfit {' '.join(argv[:1])} failed:\n{done.stderr}")
    return done.stdout


def run_streamfit(name: str, train: Path, test: Path, kind: str, cutoffs: list[int], tmp: Path) -> list[dict]:
    bundle = tmp / f"{name}-{kind}"
    started = time.perf_counter()
    streamfit("train", str(train), "--text", "text", "--label", "label", "--output", str(bundle),
              "--cache", str(tmp / f"cache-{name}"), "--seed", "0", "--verbose", "0", "--model", kind)
    train_s = time.perf_counter() - started
    rows = []
    for cutoff in cutoffs:
        started = time.perf_counter()
        steps = json.loads(streamfit("quantize", str(bundle), "--output", str(tmp / f"{name}-{kind}-q"),
                                     "--cutoff", str(cutoff), "--data", str(test), "--json"))
        seconds = time.perf_counter() - started
        if not rows:
            rows.append({"dataset": name, "system": f"streamfit {kind}", "step": "float bundle",
                         "bytes": steps[0]["bytes"], "accuracy": steps[0]["score"],
                         "rows": steps[0]["rows"], "seconds": round(train_s, 1)})
        for step in steps[1:]:
            rows.append({"dataset": name, "system": f"streamfit {kind}", "step": step["step"],
                         "bytes": step["bytes"], "accuracy": step["score"], "rows": step["rows"],
                         "seconds": round(seconds, 1)})
    return rows


def run_fasttext(name: str, train: Path, test: Path, cutoffs: list[int], tmp: Path) -> list[dict]:
    sys.path.insert(0, str(BENCH / "peers"))
    import fasttext
    import pyarrow.compute as pc
    from _common import ShuffledWriter, iter_batches, normalize

    args = argparse.Namespace(text="text", label="label", no_header=False, delimiter=None, seed=0)
    train_txt = tmp / f"{name}.train.txt"
    writer = ShuffledWriter(train_txt, 0)
    for text, labels in iter_batches(str(train), args):
        prefixed = pc.binary_join_element_wise(PREFIX, labels, "")
        writer.write(pc.binary_join_element_wise(prefixed, normalize(text), " "))
    writer.close()
    texts, truth = [], []
    for text, labels in iter_batches(str(test), args):
        texts += normalize(text).to_pylist()
        truth += labels.to_pylist()

    def accuracy(model) -> float:
        predicted, _ = model.predict(texts, k=1)
        hits = [bool(p) and p[0][len(PREFIX):] == t for p, t in zip(predicted, truth, strict=True)]
        return float(np.mean(hits))

    started = time.perf_counter()
    model = fasttext.train_supervised(input=str(train_txt), dim=10, epoch=10, lr=0.25, wordNgrams=2,
                                      thread=2, seed=0, verbose=0)
    path = tmp / f"{name}.bin"
    model.save_model(str(path))
    rows = [{"dataset": name, "system": "fastText", "step": "float .bin", "bytes": path.stat().st_size,
             "accuracy": accuracy(model), "rows": None, "seconds": round(time.perf_counter() - started, 1)}]
    for cutoff in cutoffs:
        small = fasttext.load_model(str(path))
        started = time.perf_counter()
        small.quantize(input=str(train_txt), qnorm=True, retrain=True, cutoff=cutoff, epoch=10,
                       lr=0.25, thread=2, verbose=0)
        ftz = tmp / f"{name}-{cutoff}.ftz"
        small.save_model(str(ftz))
        rows.append({"dataset": name, "system": "fastText", "step": f".ftz cutoff {cutoff} qnorm retrain",
                     "bytes": ftz.stat().st_size, "accuracy": accuracy(small), "rows": cutoff,
                     "seconds": round(time.perf_counter() - started, 1)})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| dataset | system | step | size | smaller | accuracy |", "| --- | --- | --- | ---: | ---: | ---: |"]
    base = {}
    for row in rows:
        key = (row["dataset"], row["system"])
        base.setdefault(key, row["bytes"])
        size = row["bytes"]
        shown = f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
        lines.append(f"| {row['dataset']} | {row['system']} | {row['step']} | {shown} | "
                     f"{base[key] / size:.1f}x | {row['accuracy']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="imdb,20ng")
    parser.add_argument("--models", default="fasttext,mlp", help="streamfit models to train")
    parser.add_argument("--cutoffs", default="100000,20000,5000", help="streamfit quantize --cutoff values")
    parser.add_argument("--ft-cutoffs", default="100000,20000", help="fasttext quantize -cutoff values")
    parser.add_argument("--out", default=None, help="write every row as JSON here")
    args = parser.parse_args()
    cutoffs = [int(c) for c in args.cutoffs.split(",")]
    ft_cutoffs = [int(c) for c in args.ft_cutoffs.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamfit-quantize-bench-") as tmp:
        for name in args.datasets.split(","):
            train, test = (SHARED / part for part in DATASETS[name])
            for kind in args.models.split(","):
                rows += run_streamfit(name, train, test, kind, cutoffs, Path(tmp))
                print(table(rows), file=sys.stderr)
            rows += run_fasttext(name, train, test, ft_cutoffs, Path(tmp))
            print(table(rows), file=sys.stderr)
    print(table(rows))
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "cpus": os.cpu_count()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
