"""The PostgreSQL store alone, in process: what a job costs it, in CPU and in WAL bytes.

Run from the repository root::

    .venv/bin/python bench/pg_store_probe.py --rounds 4
    .venv/bin/python bench/pg_store_probe.py --rounds 4 --what "asc=DROP INDEX jobs_window; \\
        CREATE INDEX jobs_window ON jobs ((doc -> 'created') ASC NULLS FIRST, id DESC)"

One durable throwaway cluster (tests/pg.py: ``fsync`` and ``synchronous_commit`` on), a fresh
database per run, seeded with ``--n`` ready jobs, then three measures (as ``store_probe.py``
takes on SQLite):

- **bulk**: ``--n`` more jobs inserted 1,000 a call (``create_many``);
- **cycle**: every ready job claimed ten at a time, each turn also completing the last ten;
- **lone**: ``--saves`` one-job creates in turn, each with a request id (the SDK's ``save``).

Each prints the wall time per job, the WAL bytes written per job (``pg_current_wal_lsn``,
exact) and the CPU per job of PostgreSQL's processes and of this process (the store, as a
server runs it).
``--what NAME=SQL`` adds a variant whose SQL runs once the schema is made (a what-if: another
index, a dropped trigger); rounds alternate the variants, each in turn first, so that a busy
neighbour hits them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict

import asyncpg

from livejobs.jobs.model import Job
from livejobs.store.base import ClaimRequest, CreateRequest
from livejobs.store.postgres.store import PostgresStore
from pg_probe import Cluster, _postgres_ticks
from store_probe import SEED_BATCH, _completed, _job

US_PER_TICK = 1e6 / 100  # /proc's clock ticks (USER_HZ)


async def _wal(url: str, checkpoint: bool = False) -> int:
    conn = await asyncpg.connect(url)
    try:
        if checkpoint:
            await conn.execute("CHECKPOINT")
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


class Meter:
    """WAL bytes and CPU from ``start`` to ``per``. Each measure starts at a checkpoint, so
    that each counts the full-page images of the pages it is the first to touch (one a page
    after every checkpoint), whenever the cluster's own checkpoints would have come."""

    async def start(self, url: str) -> None:
        self.url, self.wal = url, await _wal(url, checkpoint=True)
        self.ticks, self.cpu = _postgres_ticks(), time.process_time()
        self.wall = time.perf_counter()

    async def per(self, name: str, n: int) -> dict[str, float]:
        wall = time.perf_counter()
        wal, ticks, cpu = await _wal(self.url), _postgres_ticks(), time.process_time()
        return {
            f"{name} wall µs/job": 1e6 * (wall - self.wall) / n,
            f"{name} WAL B/job": (wal - self.wal) / n,
            f"{name} pg µs/job": (ticks - self.ticks) * US_PER_TICK / n,
            f"{name} store µs/job": 1e6 * (cpu - self.cpu) / n,
        }


async def _insert(store: PostgresStore, n: int) -> None:
    now = time.time()
    docs = [_job(now + i * 1e-6, {"i": i}) for i in range(n)]
    for first in range(0, n, SEED_BATCH):
        await store.insert(docs[first : first + SEED_BATCH])


async def _cycle(store: PostgresStore) -> int:
    running: list[Job] = []
    done = 0
    while True:
        request = ClaimRequest(("probe",), "w1", "admin", time.time(), 600.0, 10)
        reports = [store.replace(_completed(job), job["version"], job) for job in running]
        claimed, *_ = await asyncio.gather(store.claim(request), *reports)
        done += len(running)
        if not (running := claimed):
            return done


async def _lone(store: PostgresStore, saves: int) -> None:
    for i in range(saves):
        now = time.time()
        request = CreateRequest(owner="admin", id=f"r{i}", at=now, expires=now + 600)
        await store.insert([_job(now, {"s": i})], request)


async def probe(url: str, what: str, n: int, saves: int) -> dict[str, float]:
    store = PostgresStore(url)
    await store.open()
    figures: dict[str, float] = {}
    meter = Meter()
    try:
        if what:
            conn = await asyncpg.connect(url)
            await conn.execute(what)
            await conn.close()
        await _insert(store, n)
        await meter.start(url)
        await _insert(store, n)
        figures |= await meter.per("bulk", n)
        await meter.start(url)
        figures |= await meter.per("cycle", await _cycle(store))
        await meter.start(url)
        await _lone(store, saves)
        figures |= await meter.per("lone", saves)
    finally:
        await store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--saves", type=int, default=1_000)
    parser.add_argument("--what", action="append", default=[], help="NAME=SQL: a variant")
    args = parser.parse_args()
    variants = [("as is", ""), *(tuple(w.split("=", 1)) for w in args.what)]
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    cluster = Cluster(durable=True)
    cluster.start()
    try:
        for round_ in range(args.rounds):
            turn = round_ % len(variants)
            for name, sql in variants[turn:] + variants[:turn]:
                figures = asyncio.run(probe(cluster.create_database(), sql, args.n, args.saves))
                results[name].append(figures)
                print(f"{name}:", "  ".join(f"{k} {v:,.0f}" for k, v in figures.items()))
    finally:
        cluster.stop()
    print("medians:")
    for name, runs in results.items():
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{name}:", "  ".join(f"{k} {v:,.0f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
