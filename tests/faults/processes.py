"""Helpers for the fault tests (`from faults.processes import ...`): real `streamfit` processes, killed, starved and raced."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

WORDS = ("the", "movie", "film", "plot", "actors", "was", "and", "a", "story", "really",
         "great", "wonderful", "loved", "excellent", "awful", "boring", "hated", "terrible",
         "dull", "worst", "poor")


def streamfit(*argv, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamfit", *map(str, argv)],
                          env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=300, **kw)


def start(*argv, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "streamfit", *map(str, argv)],
                            env={**ENV, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def one_line_error(result: subprocess.CompletedProcess, *names: str) -> str:
    """The run failed as a user error: exit 2, one line on stderr naming each of `names`."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamfit: error: "), result.stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def write_big_corpus(path: Path, rows: int, seed: int = 0) -> Path:
    """A learnable CSV of `rows` rows, fast to write (200 distinct texts, numbered)."""
    rng = random.Random(seed)
    texts = []
    for i in range(200):
        label = ("neg", "pos")[i % 2]
        cue = WORDS[10:14] if label == "pos" else WORDS[14:]
        words = [rng.choice(WORDS[:10]) for _ in range(40)] + [rng.choice(cue) for _ in range(3)]
        rng.shuffle(words)
        texts.append((label, " ".join(words)))
    with open(path, "w") as f:
        f.write("label,text\n")
        f.writelines(f"{texts[i % 200][0]},{texts[i % 200][1]} w{i % 5000}\n" for i in range(rows))
    return path


def temporaries(parent: Path) -> list[Path]:
    """Hidden entries streamfit may have left in `parent` (its work folders are hidden)."""
    return sorted(p for p in parent.iterdir() if p.name.startswith(".")) if parent.is_dir() else []


def wait_for(condition, timeout: float = 120, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended first: {process.communicate()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
