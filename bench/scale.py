"""Memory and speed at scale: `streamfit train` on 1x, 10x and Amazon-sized data.

For each corpus, runs `streamfit train` in a fresh process (cache rebuilt)
and prints rows, file size, prepare time, train time per epoch, rows/s, peak
RSS (of the largest process, from wait4: the trainer or the prepare process
it forks; `bench/compare.py` sums both) and the fraction of step time the
trainer waited for data. Principle 2 of DESIGN.md: peak RSS must not grow
with the rows (10x within 1.2x of 1x, both under 1 GB).

    python bench/scale.py                       # imdb 1x and 10x
    python bench/scale.py --corpora imdb,imdb10x,amazon3.6m --repeat 3

Grown corpora are made once with ../shared/tools/grow_corpus.py into
--data-dir and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
IMDB_TRAIN = SHARED / "datasets" / "imdb" / "train.csv.gz"

CORPORA = {
    # name: (file name in data dir or None for the original, rows to grow, grow format, extra train args)
    "imdb": (None, None, None, []),
    "imdb10x": ("imdb10x.csv", 250_000, "csv", []),
    "amazon3.6m": ("amazon3.6m.csv", 3_600_000, "zhang", ["--preset", "zhang"]),
}


def corpus_path(name: str, data_dir: Path) -> Path:
    file_name, rows, fmt, _ = CORPORA[name]
    if file_name is None:
        return IMDB_TRAIN
    path = data_dir / file_name
    if not path.exists():
        print(f"growing {name} ({rows} rows) into {path} ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp.csv")
        subprocess.run([sys.executable, str(SHARED / "tools" / "grow_corpus.py"), str(IMDB_TRAIN),
                        "--rows", str(rows), "--out", str(tmp), "--format", fmt], check=True)
        tmp.rename(path)
    return path


def run_measured(argv: list[str]) -> tuple[float, int, int]:
    """Run a command; return (wall seconds, peak RSS in bytes of its largest process, exit status)."""
    # stderr to a file, not a pipe: a pipe nobody reads fills and blocks the child.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace")[-2000:])
    return wall, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def measure(name: str, data: Path, args: argparse.Namespace, work: Path) -> dict:
    output, cache = work / f"{name}-model", work / f"{name}-cache"
    shutil.rmtree(output, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    argv = [sys.executable, "-m", "streamfit", "train", str(data), "--output", str(output),
            "--cache", str(cache), "--epochs", str(args.epochs), "--model", args.model,
            "--validation-split", "0", *CORPORA[name][3]]
    wall, rss, code = run_measured(argv)
    if code != 0:
        raise SystemExit(f"{name}: streamfit train failed with status {code}")
    info = json.loads((output / "bundle.json").read_text())["info"]
    epochs = info["epochs"]
    train_seconds = info["seconds"]["train"]
    return {
        "corpus": name, "rows": info["accounting"]["rows_used"], "file_mb": data.stat().st_size / 2**20,
        "prepare_s": info["seconds"]["prepare"], "epoch_s": train_seconds / epochs,
        "rows_per_s": info["train_rows"] * epochs / train_seconds, "peak_rss_mb": rss / 2**20,
        "data_wait": statistics.mean(info["data_wait"]), "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="imdb,imdb10x", help=f"comma-separated: {', '.join(CORPORA)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per corpus; medians are reported")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--data-dir", default=os.environ.get("STREAMFIT_BENCH_DATA", "/tmp/streamfit-bench"))
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args()
    if not IMDB_TRAIN.exists():
        raise SystemExit(f"{IMDB_TRAIN} is absent: the benchmark needs ../shared/datasets")
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamfit-scale-") as tmp:
        for name in args.corpora.split(","):
            data = corpus_path(name, data_dir)
            runs = [measure(name, data, args, Path(tmp)) for _ in range(args.repeat)]
            row = {key: statistics.median(run[key] for run in runs) if isinstance(value, float) else value
                   for key, value in runs[0].items()}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    base = next((r for r in rows if r["corpus"] == "imdb"), None)
    print("| corpus | rows | file MB | prepare s | train s/epoch | rows/s | peak RSS MB | RSS vs imdb | data wait |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x" if base else "-"
        print(f"| {r['corpus']} | {r['rows']:,} | {r['file_mb']:.0f} | {r['prepare_s']:.1f} | "
              f"{r['epoch_s']:.1f} | {r['rows_per_s']:,.0f} | {r['peak_rss_mb']:.0f} | {ratio} | "
              f"{r['data_wait']:.1%} |")
    print(f"\n{args.repeat} run(s) per corpus (medians), model {args.model}, {args.epochs} epoch(s), "
          f"{os.cpu_count()} CPUs.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
