"""Compare streamfit with fastText, Vowpal Wabbit, scikit-learn and the guide's Keras MLP.

    python bench/compare.py --datasets imdb,20ng,sst2 --systems streamfit,fasttext,vw \\
        --repeat 3 --out results.json

Every system runs on every dataset as a subprocess (one at a time, so that
timings do not interfere), and each run is measured from outside:

- wall time: from start to exit of the subprocess, reading and converting
  the data included (what a user pays);
- peak RSS: the larger of the kernel's ``ru_maxrss`` of the waited child
  (which covers the children it reaped) and the largest sum of RSS over the
  live process tree, sampled every 50 ms with psutil (which covers children
  running side by side);
- CPU time: user + system seconds of the child and its reaped children,
  which is far less sensitive than wall time to other work on the machine.

streamfit runs as ``streamfit train`` then ``streamfit evaluate --json``,
each with a fresh prepared-data cache; its wall and CPU time are the sums of
the two steps and its peak RSS the larger. The peers run the scripts in
``bench/peers/``, which print one JSON line with the accuracy. The report is
a Markdown table with medians over ``--repeat`` runs and ratios to
streamfit; ``--out`` keeps every run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import psutil
except ImportError:  # the tree sampling is a refinement; ru_maxrss still measures
    psutil = None

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / "peers"
GROW = ROOT.parent / "shared" / "tools" / "grow_corpus.py"
SAMPLE_S = 0.05


@dataclass(frozen=True)
class Dataset:
    """A train/test pair and the columns to read.

    ``train`` and ``test`` are relative to the data folder, except that a
    train file named ``cache:NAME`` is generated into the cache folder.
    """

    name: str
    train: str
    test: str
    text: str
    label: str = "label"


DATASETS = {
    d.name: d
    for d in [
        Dataset("imdb", "imdb/train.csv.gz", "imdb/test.csv.gz", "text"),
        Dataset("imdb10x", "cache:imdb10x.csv", "imdb/test.csv.gz", "text"),
        Dataset("20ng", "20newsgroups/train.csv.gz", "20newsgroups/test.csv.gz", "text"),
        Dataset("sst2", "sst2/train.tsv.gz", "sst2/test.tsv", "sentence"),
    ]
}

# system -> modules its runner needs (checked without importing them)
SYSTEMS = {
    "streamfit": ["streamfit"],
    "fasttext": ["fasttext"],
    "vw": ["vowpalwabbit"],
    "sklearn": ["sklearn"],
    "keras": ["keras", "torch", "sklearn"],
}
RUNNERS = {
    "fasttext": "fasttext_run.py",
    "vw": "vw_run.py",
    "sklearn": "sklearn_run.py",
    "keras": "keras_run.py",
}


@dataclass
class Measure:
    """One measured subprocess (or the sum of streamfit's two)."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    load_before: float
    extra: dict = field(default_factory=dict)


def _tree_rss(pid: int) -> int:
    """RSS in bytes of a process and all its live descendants (0 once it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += p.memory_info().rss
    return total


def measure(cmd: list[str], env: dict[str, str], timeout_s: float) -> Measure:
    """Run ``cmd`` to completion and measure its wall time, CPU time and peak RSS.

    Args:
        cmd: The command line.
        env: Its environment.
        timeout_s: Kill the process group after this many seconds (returncode -9).
            The kill is sent to the session started for the child, so that
            its children go too.

    Returns:
        The measurements, with the captured stdout and stderr.
    """
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        done = threading.Event()
        peak_tree = [0]

        def sample() -> None:
            while not done.wait(SAMPLE_S):
                peak_tree[0] = max(peak_tree[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        if psutil is not None:
            sampler.start()
        killer = threading.Timer(timeout_s, os.killpg, (proc.pid, signal.SIGKILL))
        killer.start()
        # A blocking wait: the exit is seen at once, and its rusage covers reaped children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        killer.cancel()
        done.set()
        if sampler.is_alive():
            sampler.join()
        peak_tree = peak_tree[0]
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Measure(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=max(usage.ru_maxrss * 1024, peak_tree) / 2**20,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            load_before=load,
        )


def parse_result(stdout: str) -> dict | None:
    """The JSON object a run printed: the whole output, or else its last JSON line."""
    try:
        result = json.loads(stdout)
        if isinstance(result, dict):
            return result
    except json.JSONDecodeError:
        pass
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def missing_modules(system: str) -> list[str]:
    """The modules of ``system`` that this Python cannot import."""
    return [m for m in SYSTEMS[system] if importlib.util.find_spec(m) is None]


def streamfit_command() -> list[str]:
    """How to call the streamfit CLI: the installed script, else ``python -m streamfit``."""
    script = shutil.which("streamfit", path=str(Path(sys.executable).parent)) or shutil.which(
        "streamfit"
    )
    return [script] if script else [sys.executable, "-m", "streamfit"]


def run_streamfit(
    train: Path, test: Path, ds: Dataset, env: dict, timeout_s: float, extra_args: list[str]
) -> Measure:
    """``streamfit train`` then ``streamfit evaluate --json``, measured as one run.

    Each run gets a fresh ``--cache`` so that preparing the data is timed
    every time, as on a user's first run. ``extra_args`` go to ``train``.
    """
    sf = streamfit_command()
    with tempfile.TemporaryDirectory(prefix="streamfit-bench-") as tmp:
        bundle = Path(tmp) / "bundle"
        train_cmd = [
            *sf,
            "train",
            str(train),
            "--text",
            ds.text,
            "--label",
            ds.label,
            "--output",
            str(bundle),
            "--cache",
            str(Path(tmp) / "cache"),
            "--seed",
            "0",
            "--verbose",
            "0",
            *extra_args,
        ]
        first = measure(train_cmd, env, timeout_s)
        if first.returncode != 0:
            return first
        second = measure([*sf, "evaluate", str(bundle), str(test), "--json"], env, timeout_s)
    return Measure(
        wall_s=first.wall_s + second.wall_s,
        cpu_s=first.cpu_s + second.cpu_s,
        peak_rss_mb=max(first.peak_rss_mb, second.peak_rss_mb),
        returncode=second.returncode,
        stdout=second.stdout,
        stderr=first.stderr + second.stderr,
        load_before=first.load_before,
        extra={
            "train_wall_s": first.wall_s,
            "train_peak_rss_mb": first.peak_rss_mb,
            "evaluate_wall_s": second.wall_s,
            "evaluate_peak_rss_mb": second.peak_rss_mb,
        },
    )


def run_peer(system: str, train: Path, test: Path, ds: Dataset, env: dict, timeout_s: float):
    """One peer runner script on one dataset, measured."""
    cmd = [
        sys.executable,
        str(PEERS / RUNNERS[system]),
        "--train",
        str(train),
        "--test",
        str(test),
        "--text",
        ds.text,
        "--label",
        ds.label,
    ]
    return measure(cmd, env, timeout_s)


def dataset_paths(ds: Dataset, data_dir: Path, cache_dir: Path) -> tuple[Path, Path]:
    """The train and test files of ``ds``, growing the 10x IMDB corpus on first use.

    Raises:
        SystemExit: When a dataset file is missing.
    """
    if ds.train.startswith("cache:"):
        train = cache_dir / ds.train.removeprefix("cache:")
        if not train.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = train.with_name(train.name + ".partial")
            print(f"growing {train} (once; reused later) ...", file=sys.stderr, flush=True)
            subprocess.run(
                [sys.executable, str(GROW), str(data_dir / "imdb" / "train.csv.gz")]
                + ["--rows", "250000", "--out", str(partial)],
                check=True,
            )
            partial.rename(train)
    else:
        train = data_dir / ds.train
    test = data_dir / ds.test
    for path in (train, test):
        if not path.exists():
            sys.exit(f"compare.py: dataset file {path} is missing; pass --data-dir")
    return train, test


def summarize(runs: list[dict]) -> dict:
    """Medians over the repeats of one (dataset, system)."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return {"status": runs[0]["status"], "detail": runs[0].get("detail", "")}
    med = {
        key: statistics.median(r[key] for r in ok)
        for key in ("accuracy", "wall_s", "cpu_s", "peak_rss_mb", "load_before")
    }
    macro = [r["macro_f1"] for r in ok if r.get("macro_f1") is not None]
    med["macro_f1"] = statistics.median(macro) if macro else None
    return {"status": "ok", "runs": len(ok), **med}


def markdown(summary: dict[str, dict[str, dict]]) -> str:
    """The result table, ratios taken against streamfit on the same dataset."""
    lines = [
        "| dataset | system | accuracy | Δ acc vs streamfit (pp) | wall s | wall ×streamfit "
        "| CPU s | peak RSS MB | RSS ×streamfit | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for dataset, systems in summary.items():
        base = systems.get("streamfit", {})
        base_ok = base.get("status") == "ok"
        for system, s in systems.items():
            if s["status"] != "ok":
                lines.append(f"| {dataset} | {system} | {s['status']} | | | | | | | |")
                continue
            if base_ok and system != "streamfit":
                delta = f"{100 * (s['accuracy'] - base['accuracy']):+.2f}"
                wall_x = f"{s['wall_s'] / base['wall_s']:.2f}"
                rss_x = f"{s['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
            else:
                delta = wall_x = rss_x = "–"
            lines.append(
                f"| {dataset} | {system} | {100 * s['accuracy']:.2f}% | {delta} "
                f"| {s['wall_s']:.1f} | {wall_x} | {s['cpu_s']:.1f} | {s['peak_rss_mb']:.0f} "
                f"| {rss_x} | {s['load_before']:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="imdb,20ng,sst2", help=f"of {','.join(DATASETS)}")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"of {','.join(SYSTEMS)} (default: all)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per pair; medians reported")
    parser.add_argument("--out", type=Path, help="write every run and the medians here (JSON)")
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT.parent / "shared" / "datasets", help="datasets root"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=BENCH / "runs" / "cache",
        help="where generated corpora (imdb10x) are kept between invocations",
    )
    parser.add_argument(
        "--streamfit-args",
        default="",
        help="extra arguments for `streamfit train`, e.g. '--model mlp' (default: none)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    args = parser.parse_args(argv)

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for name, known in (*((d, DATASETS) for d in datasets), *((s, SYSTEMS) for s in systems)):
        if name not in known:
            parser.error(f"unknown name {name!r}; choose from {','.join(known)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONUNBUFFERED="1")
    runs: list[dict] = []
    summary: dict[str, dict[str, dict]] = {}
    for dataset in datasets:
        ds = DATASETS[dataset]
        train, test = dataset_paths(ds, args.data_dir, args.cache_dir)
        summary[dataset] = {}
        for system in systems:
            pair_runs = []
            for i in range(args.repeat):
                record = {"dataset": dataset, "system": system, "repeat": i}
                missing = missing_modules(system)
                if missing:
                    record.update(status="not installed", detail=f"missing {', '.join(missing)}")
                    pair_runs.append(record)
                    break
                print(
                    f"{dataset} / {system} run {i + 1}/{args.repeat} ...",
                    file=sys.stderr,
                    flush=True,
                )
                if system == "streamfit":
                    m = run_streamfit(
                        train, test, ds, env, args.timeout, shlex.split(args.streamfit_args)
                    )
                else:
                    m = run_peer(system, train, test, ds, env, args.timeout)
                result = parse_result(m.stdout) if m.returncode == 0 else None
                record.update(
                    wall_s=m.wall_s,
                    cpu_s=m.cpu_s,
                    peak_rss_mb=m.peak_rss_mb,
                    load_before=m.load_before,
                    returncode=m.returncode,
                    **m.extra,
                )
                if result is None or "accuracy" not in result:
                    record.update(status="failed", detail=m.stderr[-2000:] or m.stdout[-2000:])
                    print(f"  failed: {record['detail'][-500:]}", file=sys.stderr)
                else:
                    record.update(
                        status="ok",
                        accuracy=float(result["accuracy"]),
                        macro_f1=result.get("macro_f1"),
                        result=result,
                    )
                    print(
                        f"  accuracy {record['accuracy']:.4f}, {m.wall_s:.1f} s, "
                        f"{m.peak_rss_mb:.0f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
                pair_runs.append(record)
            runs.extend(pair_runs)
            summary[dataset][system] = summarize(pair_runs)

    print(markdown(summary))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "machine": {
                        "cpus": os.cpu_count(),
                        "platform": platform.platform(),
                        "python": platform.python_version(),
                    },
                    "summary": summary,
                    "runs": runs,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
