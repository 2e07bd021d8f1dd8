"""What the sync client's loop thread costs per call, beside the async client.

Part of ``make bench`` (scenario ``sdk``); alone, from the repository root:
``.venv/bin/python bench/sync_overhead.py`` (a ``livejobs serve`` process on a temp SQLite
file). Each client times, one call after the other, ``N`` saves and ``N // 4`` ``run`` round
trips (create, pushed to a worker on the same client, result pushed back); rounds alternate so
that load hits both alike. The difference per call is the hop to the loop thread and back
(``run_coroutine_threadsafe`` and a blocked ``Future.result``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from livejobs_sdk import Client, SyncClient

N = 2000
ROUNDS = 3


async def echo(job: Any) -> Any:
    return job.data


async def with_async(url: str, token: str, n: int) -> tuple[float, float]:
    async with Client(url, token) as client:
        worker = asyncio.create_task(client.process_jobs("echo-async", echo, concurrency=4))
        start = time.perf_counter()
        for i in range(n):
            await client.job("save-async", i).save()
        middle = time.perf_counter()
        for i in range(n // 4):
            await client.run("echo-async", i, timeout=10)
        end = time.perf_counter()
        worker.cancel()
    return (middle - start) / n * 1e6, (end - middle) / (n // 4) * 1e6


def with_sync(url: str, token: str, n: int) -> tuple[float, float]:
    with SyncClient(url, token) as client:
        with client.worker("echo-sync", echo, concurrency=4):  # on the client's loop
            start = time.perf_counter()
            for i in range(n):
                client.job("save-sync", i).save()
            middle = time.perf_counter()
            for i in range(n // 4):
                client.run("echo-sync", i, timeout=10)
            end = time.perf_counter()
    return (middle - start) / n * 1e6, (end - middle) / (n // 4) * 1e6


def measure(url: str, token: str, n: int = N, rounds: int = ROUNDS) -> dict[str, Any]:
    """Median µs per save and per ``run`` round trip, for each client."""
    times: dict[str, list[tuple[float, float]]] = {"async": [], "sync": []}
    for _ in range(rounds):
        times["async"].append(asyncio.run(with_async(url, token, n)))
        times["sync"].append(with_sync(url, token, n))
    result: dict[str, Any] = {"n": n, "rounds": rounds}
    for name, rows in times.items():
        result[name] = {
            "save_us": statistics.median(r[0] for r in rows),
            "run_us": statistics.median(r[1] for r in rows),
        }
    return result


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.servers import ProcessServer

    with tempfile.TemporaryDirectory() as tmp:
        server = ProcessServer(Path(tmp) / "jobs.db")
        asyncio.run(server.start())
        try:
            result = measure(server.ws_url, server.admin_token)
        finally:
            asyncio.run(server.stop())
    print(f"median of {ROUNDS} rounds, µs per call: {N} saves, {N // 4} run round trips")
    for name in ("async", "sync"):
        print(f"{name:<6} save {result[name]['save_us']:>7.0f}  run {result[name]['run_us']:>7.0f}")


if __name__ == "__main__":
    main()
