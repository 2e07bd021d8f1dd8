"""The fan-out scenario, livejobs only: live fan-out of job changes to many ``{}`` subscribers,
in steps (a load each, on a server of its own); a step may hold ``idle`` subscribers more,
whose filters match none of the jobs, as most of a large deployment's subscribers are quiet.

Subscriber processes (``fanout_client.py``, ``PER_CLIENT`` connections each at most) connect
first; then one producer creates ``rate`` jobs a second for ``seconds``, in ``TICKS`` small
``create_many`` calls a second, each job carrying its send time. Every active subscriber must
receive every change and every idle one none; how many did is counted, not assumed. The
server's CPU (share of one core over the production window) and its peak RSS are sampled with
psutil. The subscribers share the cores with the server, so they use a bare
WebSocket client (``fanout_wire.py``) that costs a fraction of what the server spends on the
same messages: what is measured is the server, not the load generator.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from lineup import BENCH
from livejobs_sdk import Client
from procs import Processes, Started
from services import Backend

TICKS = 50
PER_CLIENT = 2_500
"""Subscribers per client process at most (at least two processes): one process holding ten
thousand connections would be a load generator slower than the server it loads."""
DRAIN_S = 20.0
"""How long subscribers keep listening after the production window."""
PRODUCE_GRACE_S = 5.0
CONNECT_S = 300.0
"""How long the subscribers may take to connect and subscribe, all of them."""
IN_FLIGHT = 50


@dataclass(frozen=True)
class Load:
    subscribers: int  # active ones, on {}
    rate: int
    seconds: float
    idle: int = 0  # more, on filters no job matches

    @property
    def name(self) -> str:
        idle = f" + {self.idle:,} idle" if self.idle else ""
        return f"{self.subscribers:,}{idle} subscribers × {self.rate:,} changes/s"

    def cost_s(self) -> float:
        """An estimate of the step's run time: connecting, producing, draining."""
        return (self.subscribers + self.idle) / 150 + self.seconds + DRAIN_S / 2 + 10


def run(procs: Processes, backend: Backend, load: Load, workdir: Path) -> dict[str, Any]:
    expect = int(load.rate * load.seconds)
    server = psutil.Process(backend.proc.pid)
    clients, outs = [], []
    processes = max(2, math.ceil((load.subscribers + load.idle) / PER_CLIENT))
    for k in range(processes):
        active = _share(load.subscribers, processes, k)
        idle = _share(load.idle, processes, k)
        out = workdir / f"fanout-{load.subscribers + load.idle}-{k}.json"
        argv = [
            str(BENCH / ".venv" / "bin" / "python"),
            str(BENCH / "fanout_client.py"),
            "--server",
            backend.url,
            "--token",
            backend.token,
            "--connections",
            str(active + idle),
            "--idle",
            str(idle),
            "--expect",
            str(expect),
            "--window",
            str(load.seconds + DRAIN_S),
            "--out",
            str(out),
        ]
        name = f"fanout-{load.subscribers + load.idle}-client-{k}"
        # all connect at once (they wait on the server, not on each other): ready checked below
        clients.append(procs.start(name, argv, cwd=BENCH, ready_line="READY", ready=lambda: True))
        outs.append(out)
    _ready(clients, CONNECT_S)
    rss = RssSampler(server)
    rss.start()
    try:
        cpu_before, wall = _cpu(server), time.perf_counter()
        produced = asyncio.run(_produce(backend, load))
        produce_s = time.perf_counter() - wall
        cpu_window = _cpu(server) - cpu_before
        for proc in clients:
            proc.popen.wait(load.seconds + DRAIN_S + 60)
            procs.stop(proc)
        cpu_total = _cpu(server) - cpu_before
    finally:
        rss.stop()
    reports = [json.loads(out.read_text()) for out in outs]
    counts = [n for r in reports for n in r["counts"]]
    idle_counts = [n for r in reports for n in r.get("idle_counts", [])]
    return {
        "subscribers": load.subscribers,
        "idle": load.idle,
        "idle_quiet": sum(1 for n in idle_counts if n == 0),
        "client_processes": processes,
        "rate": load.rate,
        "seconds": load.seconds,
        "produced": produced,
        "complete_subscribers": sum(1 for n in counts if n >= produced),
        "min_received": min(counts),
        "delivered": sum(counts),
        "expected": produced * len(counts),
        "dropped_connections": sum(r["dropped"] for r in reports),
        "latency_ms": [x for r in reports for x in r["latency_ms"]],
        "last_delivery_s": (
            max(r["last"] for r in reports) - min(r["first"] for r in reports)
            if sum(counts)
            else -1.0
        ),
        "produce_s": produce_s,
        "server_cpu_pct": 100 * cpu_window / produce_s,
        "server_cpu_s_total": cpu_total,
        "server_us_per_delivery": 1e6 * cpu_total / max(sum(counts), 1),
        "client_cpu_s": sum(r["cpu_s"] for r in reports),
        "server_rss_mb_before": rss.first / 2**20,
        "server_rss_mb_peak": rss.peak / 2**20,
    }


def _ready(clients: list[Started], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(c.ready.is_set() for c in clients):
        for client in clients:
            if client.popen.poll() is not None:
                raise RuntimeError(f"{client.name} exited with {client.popen.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"subscribers not connected after {timeout:.0f} s")
        time.sleep(0.05)


def _share(total: int, parts: int, k: int) -> int:
    """Part ``k`` of ``total`` cut into ``parts`` as evenly as can be."""
    return total // parts + (1 if k < total % parts else 0)


class RssSampler(threading.Thread):
    """The server's resident memory, every quarter second, until stopped."""

    def __init__(self, proc: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.first = self.peak = proc.memory_info().rss
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.25):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> None:
        self.halt.set()
        self.join()


async def _produce(backend: Backend, load: Load) -> int:
    """Offer ``rate`` changes a second on schedule, whether or not earlier calls have returned
    (open loop: a slow server must not slow the offered load down), with at most ``IN_FLIGHT``
    calls outstanding; no new call after ``seconds + PRODUCE_GRACE_S``. Returns how many
    changes the server made, by its own count."""
    per_tick = max(1, load.rate // TICKS)
    ticks = int(load.rate * load.seconds) // per_tick
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with Client(backend.url, token=backend.token) as client:

        async def tick(k: int) -> None:
            try:
                await client.create_many([("fanout", {"t": time.time(), "k": k})] * per_tick)
            finally:
                gate.release()

        start = time.perf_counter()
        stop = start + load.seconds + PRODUCE_GRACE_S
        calls = []
        for k in range(ticks):
            delay = start + k / TICKS - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await asyncio.wait_for(gate.acquire(), max(stop - time.perf_counter(), 0))
            except TimeoutError:
                break
            calls.append(asyncio.create_task(tick(k)))
        if calls:
            await asyncio.wait(calls, timeout=DRAIN_S)
        counts = await client.counts({"type": "fanout"})
    return sum(counts["status"].values())


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)
