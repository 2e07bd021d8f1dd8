"""The per-peer scenarios for one peer, one repetition: throughput, dispatch latency and
sequential saves; fresh worker process(es), a producer, the numbers.

Each run gets a queue (or, for livejobs, a job type) of its own, so runs never see each other's
jobs while the backends keep what earlier runs stored, as a long-lived deployment would. The
CPU time the workers and the backend spent during the run is recorded beside the timings. A
throughput run also checks that every job's handler ran exactly once: each worker process
writes the indices its handler saw (``--runs-out``) as it exits.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from lineup import BENCH, Peer
from procs import Processes, run_json
from services import Backend

MIN_RATE = 200
LATENCY_S_PER_SAMPLE = 0.1


def throughput(procs: Processes, peer: Peer, backend: Backend, n: int, tag: str) -> dict[str, Any]:
    """Enqueue ``n`` (times the peer's share) no-ops from one producer while the worker(s)
    consume. A peer slower than ``MIN_RATE`` jobs/s is cut off and reported as not finishing."""
    n = max(1, round(n * peer.share))
    timeout = max(60.0, n / MIN_RATE)
    result = _run(
        procs, peer, backend, tag, "throughput", timeout, "--n", str(n), "--timeout", str(timeout)
    )
    result.update(exactly_once(n, [_runs(procs, tag, k) for k in range(peer.processes)]))
    return result


def saves(procs: Processes, peer: Peer, backend: Backend, n: int, tag: str) -> dict[str, Any]:
    """One producer awaiting each one-at-a-time enqueue, no worker; every save must be stored."""
    timeout = 30.0 + n * LATENCY_S_PER_SAMPLE / 10
    extra = ("--n", str(n), "--timeout", str(timeout))
    argv = peer.argv("saves", f"bench-{tag}", backend.url, backend.token, *extra)
    line = run_json(argv, cwd=BENCH, timeout=timeout + 30, log=procs.logs / f"{tag}-producer.log")
    result: dict[str, Any] = json.loads(line)
    return result


def exactly_once(n: int, paths: list[Path]) -> dict[str, Any]:
    """How many of jobs 0..n-1 the workers ran: once each, more than once, never."""
    try:
        seen = Counter(i for path in paths for i in json.loads(path.read_text()))
    except (OSError, ValueError):
        return {"runs": None}  # a worker did not write its list: not checked, and said so
    return {
        "runs": sum(seen.values()),
        "duplicates": sum(1 for count in seen.values() if count > 1),
        "missing": sum(1 for i in range(n) if i not in seen),
    }


def latency(
    procs: Processes, peer: Peer, backend: Backend, samples: int, tag: str
) -> dict[str, Any]:
    """One probe at a time to an idle worker, at most ``LATENCY_S_PER_SAMPLE`` s
    a sample on average (about ten times what the slowest peer needs)."""
    timeout = 30.0 + samples * LATENCY_S_PER_SAMPLE
    return _run(
        procs,
        peer,
        backend,
        tag,
        "latency",
        timeout,
        "--samples",
        str(samples),
        "--timeout",
        str(timeout),
    )


def _run(
    procs: Processes,
    peer: Peer,
    backend: Backend,
    tag: str,
    command: str,
    timeout: float,
    *extra: str,
) -> dict[str, Any]:
    queue = f"bench-{tag}"
    workers = []
    url = backend.worker_url or backend.url
    try:
        for k in range(peer.processes):
            runs = ["--runs-out", str(_runs(procs, tag, k))]
            argv = peer.argv("worker", queue, url, backend.token, *runs)
            workers.append(
                procs.start(f"{tag}-worker-{k}", argv, cwd=BENCH, ready_line="READY", timeout=60)
            )
        meters = [psutil.Process(w.pid) for w in workers]
        meters += [psutil.Process(backend.proc.pid)] + [psutil.Process(p.pid) for p in backend.also]
        cpu_before = [_cpu(m) for m in meters]
        wall = time.perf_counter()
        line = run_json(
            peer.argv(command, queue, backend.url, backend.token, *extra),
            cwd=BENCH,
            timeout=timeout + 30,
            log=procs.logs / f"{tag}-producer.log",
        )
        wall = time.perf_counter() - wall
        cpu = [_cpu(m) - before for m, before in zip(meters, cpu_before, strict=True)]
    finally:
        for worker in workers:
            procs.stop(worker)
    result: dict[str, Any] = json.loads(line)
    ours = len(workers)
    result.update(wall_s=wall, worker_cpu_s=sum(cpu[:ours]), backend_cpu_s=sum(cpu[ours:]))
    return result


def _runs(procs: Processes, tag: str, k: int) -> Path:
    return procs.logs / f"{tag}-runs.{k}.json"


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds of ``proc`` and of its children alive now (PostgreSQL's backends are
    children of its postmaster; they live as long as the servers' pooled connections)."""
    total = 0.0
    for one in [proc, *_children(proc)]:
        try:
            times = one.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return list(proc.children(recursive=True))
    except psutil.Error:
        return []
