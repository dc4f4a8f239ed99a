"""Loader workers: peak memory and throughput of `BatchLoader` over one prepared dataset.

    python bench/workers.py                      # IMDB train, 2 epochs, 3 runs each
    python bench/workers.py --cache /tmp/imdb-prepared --repeat 5

Prepares IMDB train once (`streamfit prepare DATA --cache DIR`), then for
each configuration starts a fresh Python process that opens the prepared
dataset, fits `NgramTfidf(top_k=20000)` on its n-gram counts, builds
`PreparedBatches(train, tfidf.transform, 128, seed=0)` and pulls every batch
of 2 epochs through `BatchLoader(workers=N, use_multiprocessing=...)`.
While it runs, this process polls /proc for the child and all its
descendants (the loader's worker processes) every 20 ms and sums their
memory:

- RSS counts every resident page in each process, so pages that forked
  workers share copy-on-write with the parent (the Python heap, torch and
  numpy code) are counted once per process: an upper bound.
- PSS (from /proc/PID/smaps_rollup) divides each shared page between the
  processes that map it, so the sum is the memory the tree really holds.

Issue 5's target: 4 process workers within 1.3x of 1 worker's peak memory
(fork shares pages copy-on-write, and the prepared split is read with
pread, not held in memory). Batches/s is over the iteration alone (not the
set-up); each cell is the median of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMDB_TRAIN = ROOT / ".." / "shared" / "datasets" / "imdb" / "train.csv.gz"

# name: (workers, use_multiprocessing)
CONFIGS = {
    "1 worker": (1, False),
    "2 threads": (2, False),
    "4 processes": (4, True),
}
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def iterate(cache: str, workers: int, use_multiprocessing: bool, epochs: int,
            batch_size: int, top_k: int) -> dict:
    """The measured child: open, featurize, and pull `epochs` epochs through the loader."""
    from streamfit.batches.prepared import PreparedBatches
    from streamfit.features import NgramTfidf
    from streamfit.loader import BatchLoader
    from streamfit.prepare.pipeline import open_prepared

    dataset = open_prepared(cache)
    extractor = NgramTfidf(top_k=top_k).fit(dataset.ngram_counts)
    batches = PreparedBatches(dataset.train, extractor.transform, batch_size, seed=0)
    rows = nonzeros = 0
    start = time.perf_counter()
    with BatchLoader(batches, workers=workers, use_multiprocessing=use_multiprocessing) as loader:
        for epoch in range(epochs):
            for x, y in loader.iterate(epoch, len(batches)):
                rows += len(y)
                nonzeros += x.nnz
    seconds = time.perf_counter() - start
    return {"batches": epochs * len(batches), "rows": rows, "nonzeros": nonzeros,
            "seconds": seconds, "wait_seconds": loader.wait_seconds}


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc/PID/task/TID/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
            except OSError:
                continue
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; (0, 0) once it has gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE_KB
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        return rss, pss
    except (OSError, StopIteration, ValueError):
        return 0, 0


class TreeMemory:
    """Polls a process tree in a thread and keeps the peak of its summed RSS and PSS."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.peak_rss_kb = self.peak_pss_kb = self.most_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            sizes = [_memory_kb(pid) for pid in pids]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(rss for rss, _ in sizes))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(pss for _, pss in sizes))
            self.most_processes = max(self.most_processes, sum(1 for rss, _ in sizes if rss))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure(name: str, args: argparse.Namespace) -> dict:
    """Run one configuration in a fresh process; return its numbers and peak memory."""
    workers, use_multiprocessing = CONFIGS[name]
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps([workers, use_multiprocessing]),
         "--cache", str(args.cache), "--epochs", str(args.epochs),
         "--batch-size", str(args.batch_size), "--top-k", str(args.top_k)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    memory = TreeMemory(child.pid)
    out, _ = child.communicate()
    memory.stop()
    if child.returncode != 0:
        raise SystemExit(f"{name}: the measured process failed with status {child.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "peak_rss_mb": memory.peak_rss_kb / 1024,
            "peak_pss_mb": memory.peak_pss_kb / 1024, "processes": memory.most_processes}


def prepare(args: argparse.Namespace) -> None:
    if not args.data.exists():
        raise SystemExit(f"{args.data} is absent; pass --data or put the shared datasets "
                         "beside the repository")
    subprocess.run([sys.executable, "-m", "streamfit", "prepare", str(args.data),
                    "--cache", str(args.cache)], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=IMDB_TRAIN, help="corpus to prepare")
    parser.add_argument("--cache", type=Path, default=None,
                        help="prepared dataset directory (reused when it matches; default: a "
                             "temporary one)")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, from: {', '.join(CONFIGS)}")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--top-k", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        workers, use_multiprocessing = json.loads(args.child)
        print(json.dumps(iterate(str(args.cache), workers, use_multiprocessing, args.epochs,
                                 args.batch_size, args.top_k)))
        return

    names = args.configs.split(",")
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise SystemExit(f"--configs: unknown {unknown}; use names from {list(CONFIGS)}")
    with tempfile.TemporaryDirectory(prefix="streamfit-workers-") as work:
        if args.cache is None:
            args.cache = Path(work) / "prepared"
        prepare(args)
        # Interleave the configurations, so that load from the rest of the
        # machine falls on all of them alike.
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:
                runs[name].append(measure(name, args))

    rows = {name: {key: statistics.median(run[key] for run in results)
                   for key in ("seconds", "peak_rss_mb", "peak_pss_mb", "processes")}
            | {"batches": results[0]["batches"]}
            for name, results in runs.items()}
    base = rows.get("1 worker")
    print(f"{args.data.name}: {rows[names[0]]['batches']} batches of {args.batch_size} "
          f"({args.epochs} epochs), TF-IDF top {args.top_k}, median of {args.repeat} runs, "
          f"{os.cpu_count()} cores\n")
    print("| config | processes | batches/s | peak RSS MB (tree, sum) | RSS vs 1 worker "
          "| peak PSS MB (tree, sum) | PSS vs 1 worker |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        rss_ratio = f"{row['peak_rss_mb'] / base['peak_rss_mb']:.2f}x" if base else "-"
        pss_ratio = f"{row['peak_pss_mb'] / base['peak_pss_mb']:.2f}x" if base else "-"
        print(f"| {name} | {row['processes']:.0f} | {row['batches'] / row['seconds']:.0f} | "
              f"{row['peak_rss_mb']:.0f} | {rss_ratio} | {row['peak_pss_mb']:.0f} | {pss_ratio} |")


if __name__ == "__main__":
    main()
