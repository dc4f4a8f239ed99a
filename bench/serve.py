"""`streamfit serve` under load: requests/s, p50/p99 latency, memory, over real HTTP on 127.0.0.1.

    streamfit train /work/shared/datasets/imdb/train.csv.gz --output /tmp/imdb-bundle
    python bench/serve.py /tmp/imdb-bundle                      # the table of the README
    python bench/serve.py /tmp/imdb-bundle --requests 500 --memory-requests 10000   # quicker

Starts `streamfit serve BUNDLE` (one worker, no access log) in a subprocess
on a free port of 127.0.0.1 and waits for `/health`. Then, for single texts
(`{"text": review}`) and batches of 64 (`{"texts": [...64 reviews]}`) at 1,
8 and 64 concurrent clients, sends `--requests` requests or for
`--seconds` seconds, whichever ends first (IMDB test reviews in turn, each
client in a loop: the next request when the last is answered). Each cell
gives requests/s, texts/s, p50 and p99 latency (from sending the request to
having read the whole answer) and the count of answers that were not 200 or
not one prediction list per text (errors).

The clients are httpx's `AsyncClient` in one asyncio loop in this process,
one connection per client (keep-alive): the client runs on the same machine
and CPUs as the server, so on a small machine part of the latency is the
client's.

Memory: the server's RSS (/proc/PID/status VmRSS) before the load, then
every `--memory-every` requests of `--memory-requests` single texts at 8
clients (or fewer when `--memory-seconds` runs out first: the line says how
many were sent), to show it flat.

Issue 16's targets: p99 under 20 ms for a single IMDB review at 8
concurrent clients, and no error at 64.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.csv as pcsv

ROOT = Path(__file__).resolve().parents[1]
IMDB_TEST = "/work/shared/datasets/imdb/test.csv.gz"


def reviews(path: str, limit: int) -> list[str]:
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        table = pcsv.read_csv(f)
    return [str(text) for text in table.column("text").to_pylist()[:limit]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(bundle: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "streamfit", "serve", bundle, "--port", str(port),
                                "--no-access-log"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited {process.returncode}: {process.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start in 120 s")


async def load(url: str, bodies: list[bytes], sizes: list[int], clients: int, requests: int,
               seconds: float, on_progress=None) -> dict:
    """`requests` POSTs of `bodies` in turn by `clients` concurrent clients, or for `seconds`."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    texts = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one_client():
            nonlocal errors, sent, texts
            while sent < requests and time.perf_counter() < deadline:
                i = sent
                sent += 1
                body, size = bodies[i % len(bodies)], sizes[i % len(sizes)]
                start = time.perf_counter()
                try:
                    response = await client.post("/predict", content=body, headers=headers)
                    ok = response.status_code == 200 and len(response.json()["predictions"]) == size
                except (httpx.HTTPError, ValueError, KeyError):
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok
                texts += size
                if on_progress is not None:
                    on_progress(len(latencies))

        began = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "seconds": elapsed, "requests_per_s": len(latencies) / elapsed,
            "texts_per_s": texts / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", default="/tmp/imdb-bundle")
    parser.add_argument("--data", default=IMDB_TEST, help="a CSV with a text column (IMDB test)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per cell at most")
    parser.add_argument("--seconds", type=float, default=15, help="seconds per cell at most")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--memory-seconds", type=float, default=300)
    parser.add_argument("--memory-every", type=int, default=10_000)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    texts = reviews(args.data, 64 * 64)
    single = [json.dumps({"text": text}).encode() for text in texts]
    batches = [json.dumps({"texts": texts[i:i + 64]}).encode() for i in range(0, len(texts), 64)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(args.bundle, port)
    results = {"bundle": args.bundle, "cells": [], "memory": []}
    try:
        asyncio.run(load(url, single, [1], 8, 200, 10))  # warm-up
        print("| request | clients | requests | requests/s | texts/s | p50 ms | p99 ms | errors |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, bodies, size in (("1 text", single, 1), ("64 texts", batches, 64)):
            for clients in (1, 8, 64):
                cell = asyncio.run(load(url, bodies, [size], clients, args.requests, args.seconds))
                cell.update(request=name, clients=clients)
                results["cells"].append(cell)
                print(f"| {name} | {clients} | {cell['requests']} | {cell['requests_per_s']:.0f} | "
                      f"{cell['texts_per_s']:.0f} | {cell['p50_ms']:.1f} | {cell['p99_ms']:.1f} | "
                      f"{cell['errors']} |", flush=True)
        before = rss_mb(process.pid)
        samples = [(0, before)]
        marks = set(range(args.memory_every, args.memory_requests + 1, args.memory_every))

        def progress(done: int) -> None:
            if done in marks:
                samples.append((done, rss_mb(process.pid)))

        cell = asyncio.run(load(url, single, [1], 8, args.memory_requests, args.memory_seconds,
                                on_progress=progress))
        after = rss_mb(process.pid)
        samples.append((cell["requests"], after))
        results["memory"] = [{"requests": n, "rss_mb": mb} for n, mb in samples]
        bounded = "" if cell["requests"] >= args.memory_requests else (
            f" (stopped by --memory-seconds {args.memory_seconds:g} after {cell['requests']} of "
            f"{args.memory_requests})")
        print(f"\nmemory (server RSS, single texts at 8 clients): {before:.0f} MB after the cells, "
              f"{after:.0f} MB after {cell['requests']} more requests{bounded}, {cell['errors']} errors; "
              + ", ".join(f"{n}: {mb:.0f}" for n, mb in samples))
    finally:
        process.terminate()
        code = process.wait(60)
        print(f"server stopped by SIGTERM: exit {code}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
