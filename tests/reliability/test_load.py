"""Load: 2,000 WebSocket connections, each with a live subscription, and a steady flow of jobs
run by two worker processes for 60 s. No call fails, no connection is dropped or reset, every
job completes, every subscriber ends holding what its filter matches (nothing, once all jobs
are done), and the server's memory does not grow over the steady phase."""

from __future__ import annotations

import asyncio
import random
import resource
import time
from typing import Any

import psutil
import pytest

from livejobs_sdk import Client
from tests.reliability.procs import WorkerProcess, processes
from tests.servers import ProcessServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CONNECTIONS = 2000
TYPES = [f"load-{k}" for k in range(20)]
STEADY_SECONDS = 60.0
JOBS_PER_SECOND = 20
TICK = 0.25  # the producer creates JOBS_PER_SECOND * TICK jobs per tick
SAMPLE_EVERY = 5.0
#: RSS may creep a little (SQLite's page cache fills with the new jobs, up to its 32 MB), but
#: must not grow with the traffic: 60 s of this load is ~400,000 frames sent, so a leak of
#: even 64 bytes a frame would show.
RSS_GROWTH = 24 * 2**20


class Watcher:
    """One connection with one subscription; a task counts its events and resets."""

    def __init__(self, url: str, token: str, filter: dict[str, Any]) -> None:
        self.client = Client(url, token=token)
        self.filter = filter
        self.sub = self.client.subscribe(filter)
        self.events = 0
        self.resets = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.connect()
        await self.sub.start()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.sub:
            self.events += 1
            self.resets += event.kind == "reset"

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.client.close()


def filter_for(i: int) -> dict[str, Any]:
    if i % 100 == 0:  # a few see every running job
        return {"status": "running"}
    return {"type": TYPES[i % len(TYPES)], "status": {"$in": ["ready", "running"]}}


def enough_file_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(
            f"{CONNECTIONS} connections need {needed} file descriptors; the hard limit is {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))  # the server inherits it


async def test_two_thousand_subscribers_and_a_steady_job_flow(tmp_path):
    enough_file_descriptors(CONNECTIONS * 2 + 512)
    rng = random.Random(11)
    server = ProcessServer(tmp_path / "jobs.db")
    await server.start()
    watchers: list[Watcher] = []
    try:
        token = await server.token("worker", "load-worker")
        async with processes() as procs, server.client() as producer:
            for n in range(2):
                procs.start(
                    WorkerProcess(
                        server.ws_url,
                        token,
                        ",".join(TYPES),
                        f"load-w{n}",
                        tmp_path / f"w{n}.journal",
                        tmp_path / f"w{n}.out",
                        concurrency=8,
                    )
                )
            opened = time.monotonic()
            watchers = [
                Watcher(server.ws_url, server.admin_token, filter_for(i))
                for i in range(CONNECTIONS)
            ]
            for start in range(0, CONNECTIONS, 100):
                await asyncio.gather(*(w.start() for w in watchers[start : start + 100]))
            await asyncio.wait_for(asyncio.gather(*(w.sub.ready.wait() for w in watchers)), 60)
            opened = time.monotonic() - opened
            server_process = psutil.Process(server.proc.pid if server.proc else 0)
            samples: list[tuple[float, int]] = []
            created = await produce(producer, rng, server_process, samples)
            async with producer.subscribe({"type": {"$in": TYPES}, "status": "completed"}) as done:
                await asyncio.wait_for(_until(lambda: len(done.docs) == len(created), done), 60)
            counts = await producer.counts({"type": {"$in": TYPES}})
            settled = [w for w in watchers if w.sub.docs]
            resets = sum(w.resets for w in watchers)
            quiet = [w for w in watchers if w.events < 2]
            frames = sum(w.events for w in watchers)
            # every connection still answers (the same one: a reconnection would have reset)
            for start in range(0, CONNECTIONS, 200):
                await asyncio.wait_for(
                    asyncio.gather(
                        *(w.client.call("types.list") for w in watchers[start : start + 200])
                    ),
                    30,
                )
        mib = [round(rss / 2**20, 1) for _, rss in samples]
        print(
            f"\nload: {CONNECTIONS} connections opened in {opened:.1f}s; {len(created)} jobs "
            f"in {STEADY_SECONDS:.0f}s; {frames} events delivered; server RSS MiB every "
            f"{SAMPLE_EVERY:.0f}s: {mib}"
        )
        assert counts["status"] == {"completed": len(created)}, counts
        assert resets == 0, f"{resets} subscriptions were reset: connections dropped"
        assert not settled, f"{len(settled)} subscribers still hold documents"
        assert not quiet, f"{len(quiet)} subscribers saw (almost) nothing"
        start_rss, end_rss = samples[0][1], samples[-1][1]
        assert end_rss - start_rss <= RSS_GROWTH, f"server RSS grew: {mib} MiB"
    finally:
        for w in watchers:
            await w.close()
        await server.stop()


async def produce(
    producer: Client, rng: random.Random, server: psutil.Process, samples: list[tuple[float, int]]
) -> list[str]:
    """JOBS_PER_SECOND jobs a second for STEADY_SECONDS, sampling the server's RSS."""
    created: list[str] = []
    per_tick = round(JOBS_PER_SECOND * TICK)
    loop = asyncio.get_running_loop()
    began = loop.time()
    next_sample = began
    for tick in range(int(STEADY_SECONDS / TICK)):
        if loop.time() >= next_sample:
            samples.append((loop.time() - began, server.memory_info().rss))
            next_sample += SAMPLE_EVERY
        created += await producer.create_many(
            [
                (rng.choice(TYPES), {"tick": tick, "k": k, "ms": rng.randint(1, 10)})
                for k in range(per_tick)
            ]
        )
        await asyncio.sleep(max(began + (tick + 1) * TICK - loop.time(), 0))  # the pace
    samples.append((loop.time() - began, server.memory_info().rss))
    return created


async def _until(predicate: Any, sub: Any) -> None:
    while not predicate():
        await sub.next()
