"""What every Python peer shares: the probe, the two producer loops and the command line.

A peer module supplies an adapter (enqueue a batch of no-ops, enqueue one probe, count
completions, run a worker); the timing lives here once, so every peer is measured the same way.
Stdlib only: this file runs in every peer's interpreter (arq has a venv of its own).

Command line, the same for every peer (``bullmq_peer.mjs`` implements it too)::

    PEER worker     --queue Q [--redis URL] [--server URL --token T] [--concurrency C]
    PEER throughput --queue Q --n N ...      → one JSON line: enqueue_s, e2e_s, completed
    PEER latency    --queue Q --samples K ... → one JSON line: dispatch_ms[], enqueue_ms[], lost
    PEER saves      --queue Q --n N ...      → one JSON line: total_s, rtt_ms[], stored
    (``--timeout`` bounds every producer: past it, it reports what it has)

A worker given ``--runs-out PATH`` writes there, as it exits, the index of every throughput job
its handler ran (a JSON list), so the harness can check that each ran exactly once; a livejobs
worker given ``--connections C`` runs C connections (C workers) in its one process.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import inspect
import json
import os
import random
import socket
import sys
import time
from typing import Any

BATCH = 1000
"""Jobs per enqueue call for peers with a bulk call (and per gather for arq)."""

POLL_S = 0.02
"""How often the producer asks the peer how many jobs completed (same for every peer)."""

PROBE_WAIT_S = 5.0
"""A probe whose handler has not started by then counts as lost."""

_probe_socket: socket.socket | None = None
RUNS: list[int] = []
"""The index of every throughput job this worker's handler ran (one append per job)."""


def probe(payload: Any) -> None:
    """The whole no-op handler. Reads the clock first; a latency probe job then reports that
    time to its producer over UDP on loopback, outside the system under test; a throughput job
    has its index recorded."""
    started = time.time()
    if isinstance(payload, dict) and "i" in payload:
        RUNS.append(payload["i"])
    elif isinstance(payload, dict) and "probe" in payload:
        global _probe_socket
        if _probe_socket is None:
            _probe_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        port, marker = payload["probe"]
        _probe_socket.sendto(f"{marker} {started!r}".encode(), ("127.0.0.1", port))


def ready() -> None:
    """Tell the orchestrator the worker is consuming (it waits for this line). Written to the
    file descriptor: Celery's worker replaces ``sys.stdout`` with a logger."""
    os.write(1, b"READY\n")


async def _call(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def throughput(adapter: Any, n: int, timeout: float) -> dict[str, Any]:
    """Enqueue ``n`` no-ops in batches, then poll until the worker has completed them all."""
    await _call(adapter.open())
    try:
        start = time.perf_counter()
        for first in range(0, n, BATCH):
            await _call(adapter.enqueue_batch(first, min(BATCH, n - first)))
        enqueued = time.perf_counter()
        done = 0
        deadline = enqueued + timeout
        while time.perf_counter() < deadline:
            done = await _call(adapter.completed())
            if done >= n:
                break
            await asyncio.sleep(POLL_S)
        finished = time.perf_counter()
        return {
            "n": n,
            "completed": done,
            "enqueue_s": enqueued - start,
            "e2e_s": finished - start if done >= n else None,
        }
    finally:
        await _call(adapter.close())


async def latency(adapter: Any, samples: int, warmup: int, timeout: float) -> dict[str, Any]:
    """One probe at a time to an idle worker: dispatch = handler start − enqueue return.
    A probe not started within ``PROBE_WAIT_S`` is lost; the loop ends at ``timeout``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()
    await _call(adapter.open())
    dispatch: list[float] = []
    enqueue: list[float] = []
    lost = 0
    deadline = time.monotonic() + timeout
    try:
        for i in range(warmup + samples):
            if time.monotonic() > deadline:
                break
            before = time.time()
            await _call(adapter.enqueue_probe({"probe": [port, i]}))
            returned = time.time()
            try:
                started = await asyncio.wait_for(_receive(loop, sock, i), PROBE_WAIT_S)
            except TimeoutError:
                lost += 1
                continue
            if i >= warmup:
                dispatch.append((started - returned) * 1000)
                enqueue.append((returned - before) * 1000)
            # let the worker acknowledge and go idle; random so polling peers are not phase-locked
            await asyncio.sleep(random.uniform(0.002, 0.008))
    finally:
        sock.close()
        await _call(adapter.close())
    return {"dispatch_ms": dispatch, "enqueue_ms": enqueue, "lost": lost}


async def saves(adapter: Any, n: int, warmup: int, timeout: float) -> dict[str, Any]:
    """One producer awaiting each enqueue in turn, as a web request enqueues its one job, with
    no worker: saves/s and each call's round trip; then how many of them the system stored."""
    await _call(adapter.open())
    rtt: list[float] = []
    try:
        for i in range(warmup):
            await _call(adapter.enqueue_probe({"s": -1 - i}))
        start = time.perf_counter()
        deadline = start + timeout
        for i in range(n):
            before = time.perf_counter()
            await _call(adapter.enqueue_probe({"s": i}))
            rtt.append((time.perf_counter() - before) * 1000)
            if before > deadline:
                break
        total = time.perf_counter() - start
        stored = await _call(adapter.stored())
    finally:
        await _call(adapter.close())
    return {"n": n, "saved": len(rtt), "total_s": total, "rtt_ms": rtt, "stored": stored - warmup}


async def _receive(loop: asyncio.AbstractEventLoop, sock: socket.socket, marker: int) -> float:
    while True:
        data = await loop.sock_recv(sock, 256)
        got, started = data.decode().split()
        if int(got) == marker:  # a late datagram from a timed-out probe is skipped
            return float(started)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["worker", "throughput", "latency", "saves"])
    p.add_argument("--queue", required=True)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--server", default="ws://127.0.0.1:8000/ws")
    p.add_argument("--token", default="")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--runs-out", default="")
    return p.parse_args(argv)


def main(adapter_class: type, argv: list[str] | None = None) -> None:
    """Run one command of one peer; a producer prints its result as the last stdout line."""
    args = parse(sys.argv[1:] if argv is None else argv)
    adapter = adapter_class(args)
    if args.command == "worker":
        if args.runs_out:  # at exit, whichever way the worker's own shutdown ends
            atexit.register(_write_runs, args.runs_out)
        adapter.run_worker()
        return
    if args.command == "throughput":
        result = asyncio.run(throughput(adapter, args.n, args.timeout))
    elif args.command == "saves":
        result = asyncio.run(saves(adapter, args.n, args.warmup, args.timeout))
    else:
        result = asyncio.run(latency(adapter, args.samples, args.warmup, args.timeout))
    print(json.dumps(result), flush=True)


def _write_runs(path: str) -> None:
    with open(path, "w") as out:
        json.dump(RUNS, out)
