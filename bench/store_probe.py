"""The SQLite store alone, in process: what a job costs it, in CPU and in pages written.

Run from the repository root::

    .venv/bin/python bench/store_probe.py --rounds 3
    .venv/bin/python bench/store_probe.py --rounds 3 --drop jobs_updated --drop jobs_owner

Two measures per round, each on a fresh file of ``--n`` ready jobs (seeded 1,000 a batch):

- **cycle**: the worker's steady state, one commit per turn holding the reports of the last
  ``--claim`` jobs and the claim of the next ``--claim`` (as the dispatcher batches them);
- **lone**: ``--saves`` one-job creates in turn, each with a request id (as the SDK's ``save``).

Each prints the CPU per job (µs, the whole process: the loop and the store's threads) and the
WAL frames (pages) written per commit and per job. SQLite writes each frame with its own
system calls, so the pages a job dirties, one per table or index entry it changes, are most
of what a commit costs. ``--drop`` removes an index after the schema is made: a what-if, to
weigh an index's cost against its queries. Rounds alternate the variants given by ``--what``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from livejobs.jobs import lifecycle
from livejobs.jobs.model import Job, blank_job
from livejobs.store.base import ClaimRequest, CreateRequest
from livejobs.store.sqlite import batcher
from livejobs.store.sqlite.store import SQLiteStore

FRAME_BYTES = 4096 + 24  # a page and its frame header, at SQLite's default page size
SEED_BATCH = 1000


def _job(now: float, data: dict[str, int]) -> Job:
    doc = blank_job("probe", data, owner="admin", now=now)
    doc["created"] = doc["updated"] = now
    return doc


async def _store(path: Path, n: int, drop: list[str]) -> SQLiteStore:
    store = SQLiteStore(str(path))
    await store.open()
    assert store._conn is not None
    for index in drop:
        store._conn.execute(f"DROP INDEX {index}")
    now = time.time()
    docs = [_job(now + i * 1e-6, {"i": i}) for i in range(n)]
    for first in range(0, n, SEED_BATCH):
        await store.insert(docs[first : first + SEED_BATCH])
    return store


def _wal(path: Path) -> int:
    return os.path.getsize(f"{path}-wal")


async def cycle(path: Path, n: int, claim: int, drop: list[str]) -> dict[str, float]:
    store = await _store(path, n, drop)
    try:
        wal, cpu, commits = _wal(path), time.process_time(), 0
        running: list[Job] = []
        while True:
            request = ClaimRequest(("probe",), "w1", "admin", time.time(), 600.0, claim)
            reports = [store.replace(_completed(job), job["version"], job) for job in running]
            claimed, *_ = await asyncio.gather(store.claim(request), *reports)
            commits += 1
            if not (running := claimed):
                break
        cpu = time.process_time() - cpu
        frames = (_wal(path) - wal) / FRAME_BYTES
    finally:
        await store.close()
    return {"µs/job": 1e6 * cpu / n, "frames/commit": frames / commits, "frames/job": frames / n}


def _completed(job: Job) -> Job:
    token = job["lease"]["token"]
    return lifecycle.complete(
        job, lease_token=token, result=None, by="w1", now=time.time(), default_retain=None
    )


async def lone(path: Path, n: int, saves: int, drop: list[str]) -> dict[str, float]:
    store = await _store(path, n, drop)
    try:
        wal, cpu = _wal(path), time.process_time()
        for i in range(saves):
            now = time.time()
            request = CreateRequest(owner="admin", id=f"r{i}", at=now, expires=now + 600)
            await store.insert([_job(now, {"s": i})], request)
        cpu = time.process_time() - cpu
        frames = (_wal(path) - wal) / FRAME_BYTES
    finally:
        await store.close()
    return {"µs/save": 1e6 * cpu / saves, "frames/save": frames / saves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--claim", type=int, default=10, help="jobs per claim and per report")
    parser.add_argument("--saves", type=int, default=3_000)
    parser.add_argument("--drop", action="append", default=[], help="an index to drop")
    args = parser.parse_args()
    batcher.CHECKPOINT_EVERY = 10**9  # the WAL only grows: its size counts the frames
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            for name, probe in (
                ("cycle", lambda p: cycle(p, args.n, args.claim, args.drop)),
                ("lone", lambda p: lone(p, args.n, args.saves, args.drop)),
            ):
                path = Path(scratch) / f"{name}-{round_}.db"
                figures = asyncio.run(probe(path))
                results[name].append(figures)
                print(name, "  ".join(f"{k} {v:,.1f}" for k, v in figures.items()), flush=True)
    print("medians:", "dropped " + ", ".join(args.drop) if args.drop else "")
    for name, runs in results.items():
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(name, "  ".join(f"{k} {v:,.1f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
