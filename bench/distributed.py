"""Data-parallel training: 1 process against N on the same prepared data.

    python bench/distributed.py --nproc 1,2 --epochs 3 --repeat 3

Each run is `streamfit train --nproc N` on IMDB train (`../shared/datasets/
imdb/train.csv.gz`) with the same global batch (`--batch-size`) and cache,
then `streamfit evaluate --json` on IMDB test. `streamfit prepare` fills
the cache first, so no run prepares:

- train s: the training seconds the bundle records (rank 0's `fit`, all
  epochs, validation included);
- rows/s: training rows times epochs run over train s;
- wall s: the whole command, start-up of the processes and saving included.

The table shows medians over `--repeat` runs, and the load average when the
runs began: on a shared machine other work takes cores from the ranks, so
compare runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DATA = BENCH.parent.parent / "shared" / "datasets" / "imdb"


def streamfit(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "streamfit", *argv], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(f"streamfit {' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return done


def run_once(nproc: int, args: argparse.Namespace, work: Path) -> dict:
    output = work / f"m{nproc}"
    started = time.perf_counter()
    streamfit("train", str(args.data_dir / "train.csv.gz"), "--output", str(output), "--cache",
              str(work / "cache"), "--nproc", str(nproc), "--epochs", str(args.epochs),
              "--batch-size", str(args.batch_size), "--verbose", "0", *args.streamfit_args.split())
    wall = time.perf_counter() - started
    info = json.loads((output / "bundle.json").read_text())["info"]
    report = json.loads(streamfit("evaluate", str(output), str(args.data_dir / "test.csv.gz"),
                                  "--json").stdout)
    train_seconds = info["seconds"]["train"]
    return {"nproc": nproc, "epochs": info["epochs"], "train_s": train_seconds, "wall_s": wall,
            "rows_per_s": info["train_rows"] * info["epochs"] / train_seconds,
            "val_accuracy": info["history"]["val_accuracy"][-1], "accuracy": report["accuracy"]}


def table(runs: list[dict], loads: list[float]) -> str:
    by_nproc: dict[int, list[dict]] = {}
    for run in runs:
        by_nproc.setdefault(run["nproc"], []).append(run)
    base = statistics.median(r["rows_per_s"] for r in by_nproc[min(by_nproc)])
    lines = ["| processes | epochs | train s | rows/s | speed-up | wall s | val accuracy | test accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for nproc, group in sorted(by_nproc.items()):
        def median(key: str, group: list[dict] = group) -> float:
            return statistics.median(r[key] for r in group)
        lines.append(f"| {nproc} | {median('epochs'):g} | {median('train_s'):.1f} | "
                     f"{median('rows_per_s'):,.0f} | {median('rows_per_s') / base:.2f}x | "
                     f"{median('wall_s'):.1f} | {median('val_accuracy'):.4f} | "
                     f"{median('accuracy'):.4f} |")
    lines.append(f"\n{len(runs)} runs, {os.cpu_count()} cores, load average at the start of each "
                 f"run: {', '.join(f'{load:.1f}' for load in loads)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", default="1,2", help="process counts to compare (default: 1,2)")
    parser.add_argument("--epochs", type=int, default=3, help="most epochs (default: 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (default: 128)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per process count (default: 1)")
    parser.add_argument("--data-dir", type=Path, default=DATA, help=f"IMDB's folder (default: {DATA})")
    parser.add_argument("--streamfit-args", default="", help="more `streamfit train` arguments")
    parser.add_argument("--out", type=Path, help="write every run as JSON here")
    args = parser.parse_args()
    if not (args.data_dir / "train.csv.gz").exists():
        sys.exit(f"{args.data_dir / 'train.csv.gz'} is absent; give --data-dir")
    counts = [int(n) for n in args.nproc.split(",")]
    runs, loads = [], []
    with tempfile.TemporaryDirectory(prefix="streamfit-ddp-") as tmp:
        streamfit("prepare", str(args.data_dir / "train.csv.gz"), "--cache", str(Path(tmp) / "cache"))
        # Interleaved, so that a change of load on the machine hits every count alike.
        for _ in range(args.repeat):
            for nproc in counts:
                loads.append(os.getloadavg()[0])
                runs.append(run_once(nproc, args, Path(tmp)))
                print(json.dumps(runs[-1]), file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps({"runs": runs, "loads": loads}, indent=1) + "\n")
    print(table(runs, loads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
