"""A/B probe of the PostgreSQL store: one server, one worker, one producer, end to end.

Run from the repository root::

    .venv/bin/python bench/pg_probe.py --tree /tmp/A --tree . --rounds 3 --n 20000

Each ``--tree`` is a checkout whose ``server`` package the server process runs (the worker
and producer are this tree's bench peer, ``peers/livejobs_peer.py``); rounds alternate the
trees (A B, B A, ...) so that a busy neighbour hits both alike. One throwaway cluster
(tests/pg.py) with ``synchronous_commit=on`` and ``fsync=on``, a fresh database per run.
(``--no-fsync``: neither, to see the CPU's share alone; ``--statements``: where PostgreSQL's
time went, per statement, from ``pg_stat_statements``). Prints, per run: create_many jobs/s,
end-to-end jobs/s, the CPU per job (ms) of the server and of PostgreSQL's processes while
they ran, and dispatch p50 (ms) of ``--samples`` one-at-a-time jobs to an idle worker; then
the medians per tree.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import Cluster, free_port  # noqa: E402

SPY = ""
STATS = False
STATEMENTS = """
SELECT calls, total_exec_time, rows, query FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT 15
"""
PEER = ROOT / "bench" / "peers" / "livejobs_peer.py"


def _ticks(pid: int, reaped: bool = False) -> int:
    """CPU ticks (user + system) a process has used, or 0 once it is gone; ``reaped``: with
    those of its children that have exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    mine = int(fields[11]) + int(fields[12])
    return mine + int(fields[13]) + int(fields[14]) if reaped else mine


def _postgres_ticks() -> int:
    """CPU ticks of PostgreSQL's processes: those alive, and those gone (a backend of a closed
    connection, an autovacuum worker), which the postmaster counts once it has reaped them."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().startswith("postgres"):
                total += _ticks(int(stat.parent.name), reaped=True)
        except OSError:
            continue
    return total


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _serve(tree: Path, db: str, log: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port, token = free_port(), "probe-" + secrets.token_hex(8)
    argv = [sys.executable, "-m", "livejobs.cli", "serve", "--db", db, "--host", "127.0.0.1"]
    if SPY:  # collapsed stacks of the server, for where the time goes
        argv = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "-f", "raw",
                "-o", SPY, "--", *argv]  # fmt: skip
    argv += ["--port", str(port), "--admin-token", token]
    # the tree's server/ as ``livejobs``, ahead of the editable install of this tree
    path = log.parent / f"path-{tree.resolve().name}-{port}"
    path.mkdir()
    (path / "livejobs").symlink_to(tree.resolve() / "server")
    env = {**os.environ, "PYTHONPATH": str(path)}
    proc = subprocess.Popen(
        argv, cwd=tree, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while not _healthy(f"http://127.0.0.1:{port}/healthz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server in {tree} did not start; see {log}")
        time.sleep(0.1)
    return proc, f"ws://127.0.0.1:{port}/ws", token


def _peer(command: str, server: str, token: str, queue: str, *extra: str) -> list[str]:
    argv = [sys.executable, str(PEER), command, "--server", server, "--token", token]
    return [*argv, "--queue", queue, *extra]


def _sql(db: str, sql: str) -> list[Any]:
    import asyncio

    import asyncpg

    async def run() -> list[Any]:
        conn = await asyncpg.connect(db)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


def _statements(db: str, n: int) -> None:
    """Where PostgreSQL spent the end-to-end run: per statement, calls and µs per job."""
    for row in _sql(db, STATEMENTS):
        query = " ".join(row["query"].split())[:110]
        per_job = row["total_exec_time"] * 1000 / n
        print(f"  {row['calls'] / n:6.2f} calls/job {per_job:7.1f} µs/job  {query}")


def one_run(tree: Path, db: str, n: int, samples: int, log: Path) -> dict[str, Any]:
    server, url, token = _serve(tree, db, log)
    worker = subprocess.Popen(
        _peer("worker", url, token, "probe"), stdout=subprocess.PIPE, cwd=ROOT / "bench" / "peers"
    )
    try:
        assert worker.stdout is not None
        worker.stdout.readline()  # READY
        if STATS:
            _sql(db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            _sql(db, "SELECT pg_stat_statements_reset()")
        before = _ticks(server.pid), _postgres_ticks()
        out = subprocess.run(
            _peer("throughput", url, token, "probe", "--n", str(n), "--timeout", "120"),
            capture_output=True, check=True, cwd=ROOT / "bench" / "peers",
        ).stdout  # fmt: skip
        thr = json.loads(out.decode().strip().splitlines()[-1])
        after = _ticks(server.pid), _postgres_ticks()
        if STATS:
            _statements(db, n)
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        cpu = [(b - a) * tick_ms / n for a, b in zip(before, after, strict=True)]
        out = subprocess.run(
            _peer("latency", url, token, "probe", "--samples", str(samples), "--warmup", "10"),
            capture_output=True, check=True, cwd=ROOT / "bench" / "peers",
        ).stdout  # fmt: skip
        lat = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        for proc in (worker, server):
            proc.send_signal(signal.SIGINT if SPY and proc is server else signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {
        "create": n / thr["enqueue_s"],
        "e2e": n / thr["e2e_s"] if thr["e2e_s"] else 0.0,
        "server_cpu_ms_per_job": cpu[0],
        "postgres_cpu_ms_per_job": cpu[1],
        "dispatch_p50": statistics.median(lat["dispatch_ms"]) if lat["dispatch_ms"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", action="append", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--spy", default="", help="py-spy the server into this file")
    parser.add_argument("--no-fsync", action="store_true", help="commits do not wait for disk")
    parser.add_argument("--statements", action="store_true", help="print pg_stat_statements")
    args = parser.parse_args()
    global SPY, STATS
    SPY, STATS = args.spy, args.statements
    options = "-c shared_preload_libraries=pg_stat_statements" if STATS else ""
    cluster = Cluster(durable=not args.no_fsync, options=options)
    cluster.start()
    try:
        admin = cluster.url()
        results: dict[Path, list[dict[str, Any]]] = {t: [] for t in args.tree}
        for r in range(args.rounds):
            order = args.tree if r % 2 == 0 else list(reversed(args.tree))
            for tree in order:
                got = one_run(tree, cluster.create_database(), args.n, args.samples,
                              cluster.dir / f"serve-{r}.log")  # fmt: skip
                results[tree].append(got)
                print(tree, {k: round(v, 2) if v else v for k, v in got.items()}, flush=True)
        for tree, runs in results.items():
            med = {k: round(statistics.median(x[k] or 0 for x in runs), 2) for k in runs[0]}
            print("median", tree, med)
        del admin
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
