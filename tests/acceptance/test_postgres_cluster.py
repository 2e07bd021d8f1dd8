"""Three ``livejobs serve`` processes on one PostgreSQL database, as several machines would run:
a producer on A, workers on B and C, a subscriber on each. Every job runs to completion once
(the handler records each run), and every subscriber ends with what a fresh query answers;
then the same with server B killed (SIGKILL) and PostgreSQL restarted midway, clients given
every server's URL; and flow rules set through A binding the workers on B and C.

``LIVEJOBS_CLUSTER_JOBS`` sets how many jobs (default ``JOBS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livejobs_sdk import Client
from livejobs_sdk.errors import CallError
from livejobs_sdk.subscription import Subscription
from tests.acceptance.test_postgres_serve import PostgresServer, Serve, serve, url  # noqa: F401
from tests.acceptance.test_two_servers import Gate, probe_both, two_workers
from tests.helpers import collect_until_ready, running_worker, wait_count
from tests.pg import Cluster
from tests.servers import ADMIN_TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = int(os.environ.get("LIVEJOBS_CLUSTER_JOBS", "20000"))
BATCH = 1000
TYPE = "cluster"
# seconds for a whole run: 20-50 s here, on a loaded machine far more
DEADLINE = float(os.environ.get("LIVEJOBS_CLUSTER_DEADLINE", "200"))


async def three(serve: Serve) -> tuple[PostgresServer, PostgresServer, PostgresServer]:  # noqa: F811
    """A first, so that it alone makes the admin user in the fresh database (servers starting
    at once on an empty database race to make it, and the loser exits), then B and C."""
    a = await serve()
    b, c = await asyncio.gather(serve(), serve())
    return a, b, c


class Runs:
    """Every run of the handler, by (job id, attempt)."""

    def __init__(self) -> None:
        self.runs: Counter[tuple[str, int]] = Counter()

    async def handler(self, job: Any) -> int:
        self.runs[(job.id, job.attempt)] += 1
        return int(job.data["i"])


async def fresh(client: Client) -> dict[str, tuple[str, int]]:
    """Every job of the run as a fresh query reads it: id → (status, version)."""
    found: dict[str, tuple[str, int]] = {}
    skip = 0
    while True:
        page = await client.find({"type": TYPE}, limit=1000, skip=skip)
        found.update({d["id"]: (d["status"], d["version"]) for d in page})
        if len(page) < 1000:
            return found
        skip += len(page)


def state(sub: Subscription) -> dict[str, tuple[str, int]]:
    return {i: (d["status"], d["version"]) for i, d in sub.docs.items()}


async def converged(subs: list[Subscription], client: Client, deadline: float) -> None:
    """Each subscriber's documents equal a fresh query's, once every job is completed."""
    while True:
        truth = await fresh(client)
        done = len(truth) >= JOBS and all(s == "completed" for s, _ in truth.values())
        if done and all(state(sub) == truth for sub in subs):
            return
        assert time.monotonic() < deadline, (
            f"not converged: {Counter(s for s, _ in truth.values())}, "
            f"{[Counter(s for s, _ in state(sub).values()) for sub in subs]}"
        )
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def subscribed(clients: list[Client]) -> AsyncIterator[list[Subscription]]:
    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(c.subscribe({"type": TYPE})) for c in clients]
        for sub in subs:
            await collect_until_ready(sub)
        yield subs


async def produce(client: Client) -> list[str]:
    ids: list[str] = []
    for first in range(0, JOBS, BATCH):
        batch = [(TYPE, {"i": k}) for k in range(first, min(first + BATCH, JOBS))]
        ids += await client.create_many(batch)
    return ids


async def test_three_servers_run_every_job_once_and_every_subscriber_converges(
    serve: Serve,  # noqa: F811
) -> None:
    started = time.monotonic()
    a, b, c = await three(serve)
    runs = Runs()
    work = {"concurrency": 10, "prefetch": 10}
    async with a.client() as producer, b.client() as on_b, c.client() as on_c:
        async with subscribed([producer, on_b, on_c]) as subs:
            async with running_worker(on_b, TYPE, runs.handler, **work):
                async with running_worker(on_c, TYPE, runs.handler, **work):
                    ids = await produce(producer)
                    await converged(subs, producer, started + DEADLINE)
    assert len(set(ids)) == JOBS
    assert sorted({job_id for job_id, _ in runs.runs}) == sorted(ids)
    assert set(runs.runs.values()) == {1}, "an attempt ran twice"
    assert {attempt for _, attempt in runs.runs} == {1}
    print(f"{JOBS} jobs on three servers in {time.monotonic() - started:.1f} s")


async def produce_through(client: Client) -> list[str]:
    """``produce``, where a batch refused while the database restarts is sent again: the ids
    returned are those acknowledged."""
    ids: list[str] = []
    retry = {"retries": 3, "wait": 0}  # an attempt whose worker's server died runs again
    for first in range(0, JOBS, BATCH):
        batch = [
            {"type": TYPE, "data": {"i": k}, "retry": retry}
            for k in range(first, min(first + BATCH, JOBS))
        ]
        while True:
            try:
                ids += await client.create_many(batch)
                break
            except CallError as exc:  # unavailable for a moment: nothing of it was saved
                assert exc.code == "unavailable", exc
                await asyncio.sleep(0.1)
    return ids


async def test_a_server_killed_and_the_database_restarted_midway_lose_nothing(
    serve: Serve,  # noqa: F811
    pg_cluster: Cluster,
) -> None:
    if not pg_cluster.can_restart:
        pytest.skip("the tests cannot restart an external PostgreSQL")
    started = time.monotonic()
    a, b, c = await three(serve)
    urls = [a.ws_url, b.ws_url, c.ws_url]

    def client(first: PostgresServer) -> Client:  # its server first, then the others
        return Client([first.ws_url, *(u for u in urls if u != first.ws_url)], token=ADMIN_TOKEN)

    runs = Runs()
    work = {"concurrency": 10, "prefetch": 10, "lease": 2.0}
    async with client(a) as producer, client(b) as on_b, client(c) as on_c:
        async with subscribed([producer, on_b, on_c]) as subs:
            async with running_worker(on_b, TYPE, runs.handler, **work):
                async with running_worker(on_c, TYPE, runs.handler, **work):
                    making = asyncio.create_task(produce_through(producer))
                    while len(runs.runs) < JOBS // 3:
                        assert time.monotonic() < started + DEADLINE, (
                            f"stuck before the kill: {len(runs.runs)} runs, "
                            f"{await producer.counts({'type': TYPE})}"
                        )
                        await asyncio.sleep(0.05)
                    await b.kill()
                    await asyncio.to_thread(pg_cluster.restart)
                    ids = await asyncio.wait_for(making, started + DEADLINE - time.monotonic())
                    await converged(subs, producer, started + DEADLINE)
    assert on_b._conn.url != b.ws_url  # moved on by itself
    assert len(set(ids)) == len(ids) >= JOBS
    assert set(ids) <= {job_id for job_id, _ in runs.runs}
    assert set(runs.runs.values()) == {1}, "an attempt ran twice"
    print(f"failover: {len(ids)} jobs in {time.monotonic() - started:.1f} s")


async def test_flow_rules_set_through_one_server_bind_the_others_next_claims(
    serve: Serve,  # noqa: F811
) -> None:
    """A concurrency limit and a pause set through server A hold for workers on B and C."""
    a, b, c = await three(serve)
    gate = Gate()
    async with a.client() as on_a, b.client() as on_b, c.client() as on_c:
        async with contextlib.AsyncExitStack() as stack:
            await on_a.call("types.set_limits", {"type": "heavy", "concurrency": 2})
            await two_workers(stack, on_b, on_c, "heavy", gate, concurrency=5)
            jobs = [await on_a.job("heavy", i).save() for i in range(6)]
            await wait_count(on_a, {"type": "heavy", "status": "running"}, 2)
            await probe_both(on_b, on_c)  # both workers have claimed since: still two
            assert gate.peak == 2
            await on_a.call("types.pause", {"type": "heavy"})
            gate.release.set()
            await wait_count(on_a, {"type": "heavy", "status": "completed"}, 2)
            await probe_both(on_b, on_c)
            assert len(await on_c.find({"type": "heavy", "status": "ready"})) == 4  # paused
            await on_a.call("types.resume", {"type": "heavy"})
            assert len(await asyncio.gather(*(j.result(timeout=10) for j in jobs))) == 6
    assert gate.peak == 2
