"""Scenarios 1 and 2 for one peer, one repetition: a fresh worker, a producer, the numbers.

Each run gets a queue (or, for livejobs, a job type) of its own, so runs never see each other's
jobs while the backends keep what earlier runs stored, as a long-lived deployment would. The
CPU time the worker and the backend spent during the run is recorded beside the timings.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psutil

from lineup import BENCH, Peer
from procs import Processes, run_json
from services import Backend

MIN_RATE = 200
LATENCY_S_PER_SAMPLE = 0.1


def throughput(procs: Processes, peer: Peer, backend: Backend, n: int, tag: str) -> dict[str, Any]:
    """Scenario 1: enqueue ``n`` no-ops from one producer while one worker consumes. A peer
    slower than ``MIN_RATE`` jobs/s is cut off and reported as not finishing."""
    timeout = max(60.0, n / MIN_RATE)
    return _run(
        procs, peer, backend, tag, "throughput", timeout, "--n", str(n), "--timeout", str(timeout)
    )


def latency(
    procs: Processes, peer: Peer, backend: Backend, samples: int, tag: str
) -> dict[str, Any]:
    """Scenario 2: one probe at a time to an idle worker, at most ``LATENCY_S_PER_SAMPLE`` s
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
    worker = procs.start(
        f"{tag}-worker",
        peer.argv("worker", queue, backend.worker_url or backend.url, backend.token),
        cwd=BENCH,
        ready_line="READY",
        timeout=60,
    )
    try:
        meters = [psutil.Process(worker.pid), psutil.Process(backend.proc.pid)]
        meters += [psutil.Process(p.pid) for p in backend.also]
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
        procs.stop(worker)
    result: dict[str, Any] = json.loads(line)
    result.update(wall_s=wall, worker_cpu_s=cpu[0], backend_cpu_s=sum(cpu[1:]))
    return result


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
