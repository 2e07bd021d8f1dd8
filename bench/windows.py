"""Issue 26 at full size: a dashboard's reads against a store of a million jobs.

Seeds ``--jobs`` jobs (default 1,000,000) into a fresh SQLite file through the store's batch
path, starts ``livejobs serve`` on it, then times, over the WebSocket as the dashboard does:

- sign-in to first rows: ``subscribe`` with ``sort=-created, limit=50`` until ``ready``, and
  the bytes it took (the dashboard's count feed included);
- a search by a value in ``data`` and one by an error text (``$search``), each until its
  window is ``ready``;
- the count feed's first push.

    .venv/bin/python bench/windows.py --jobs 1000000

Runnable alone; ``make bench`` runs the same reads in its ``dashboard`` scenario
(bench/dashboard.py, with the dashboard in Chromium besides). The acceptance test
(tests/acceptance/test_dashboard_windows.py) runs them at 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livejobs.jobs.model import blank_job  # noqa: E402
from livejobs.store.sqlite import SQLiteStore  # noqa: E402
from tests.servers import ADMIN_TOKEN, ProcessServer  # noqa: E402

CHUNK = 10_000


async def seed(db: Path, jobs: int) -> None:
    store = SQLiteStore(str(db))
    await store.open()
    start = time.time() - jobs
    try:
        for first in range(0, jobs, CHUNK):
            docs = []
            for n in range(first, min(first + CHUNK, jobs)):
                doc = blank_job(
                    f"t{n % 5}", {"n": n, "customer": f"c{n}"}, owner="admin", now=start + n
                )
                if n % 3 == 0:
                    doc["status"] = "failed"
                    doc["failures"] = [{"error": {"message": f"E{n}Error: bad input"}}]
                docs.append(doc)
            await store.insert(docs)
    finally:
        await store.close()


async def until_ready(ws: Any, params: dict[str, Any], calls: list[int]) -> tuple[float, int, int]:
    """Seconds, bytes and jobs sent from the ``subscribe`` call to its ``ready``."""
    calls[0] += 1
    started, size, docs = time.perf_counter(), 0, 0
    await ws.send(
        json.dumps({"msg": "call", "id": calls[0], "method": "subscribe", "params": params})
    )
    sub = None
    while True:
        raw = await ws.recv()
        size += len(raw)
        frames = json.loads(raw)
        for frame in frames if isinstance(frames, list) else [frames]:
            if frame.get("id") == calls[0] and frame["msg"] == "result":
                sub = frame["result"]["sub"]
            docs += frame["msg"] == "added"
            if frame["msg"] == "ready" and frame.get("sub") == sub:
                return time.perf_counter() - started, size, docs


async def measure(url: str, jobs: int) -> dict[str, Any]:
    calls = [0]
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(
            json.dumps({"msg": "call", "id": 0, "method": "auth", "params": {"token": ADMIN_TOKEN}})
        )
        await ws.recv()
        counts = await until_ready(ws, {"filter": {}, "counts": True}, calls)
        first = await until_ready(ws, {"filter": {}, "sort": [["created", -1]], "limit": 50}, calls)
        data = await until_ready(ws, {"filter": {"$search": f"c{jobs // 2}"}, "limit": 50}, calls)
        error = await until_ready(
            ws, {"filter": {"$search": f"E{jobs // 3 * 3 - 3}Error"}, "limit": 50}, calls
        )
    return {
        "jobs": jobs,
        "count_feed_s": round(counts[0], 4),
        "first_rows_s": round(first[0], 4),
        "first_rows_bytes": counts[1] + first[1],
        "search_data_s": round(data[0], 4),
        "search_data_found": data[2],
        "search_error_s": round(error[0], 4),
        "search_error_found": error[2],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "jobs.db"
        t0 = time.perf_counter()
        await seed(db, args.jobs)
        seeded = time.perf_counter() - t0
        server = ProcessServer(db)
        await server.start()
        try:
            result = await measure(server.ws_url, args.jobs)
        finally:
            await server.stop()
    print(json.dumps({**result, "seed_s": round(seeded, 1)}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
