"""History kept by the server (``stats.history``, ``livejobs.runtime.history``): rollups per
type across minute and hour boundaries under a driven clock, with two servers on one SQLite
file, pruned by age, readable per the security model, and the same numbers in /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livejobs.clock import ManualClock
from livejobs.errors import Unavailable
from livejobs_sdk import CallError, Client
from tests.integration.test_metrics import scrape, value
from tests.servers import InProcessServer, started

T0 = 1_800_000_000.0  # on an hour, so on a minute too


@pytest.fixture
async def srv(tmp_path) -> AsyncIterator[InProcessServer]:
    server = InProcessServer(tmp_path / "jobs.db", clock=ManualClock(T0))
    async with started(server):
        yield server


async def run_one(client: Client, clock: ManualClock, job_type: str, wait: float, run: float):
    """Create a job, claim it ``wait`` seconds later, finish it ``run`` seconds after that."""
    await client.call("jobs.create", {"type": job_type})
    clock.advance(wait)
    [job] = await client.call("jobs.claim", {"types": [job_type]})
    clock.advance(run)
    await client.call("jobs.done", {"id": job["id"], "lease": job["lease"]["token"]})


def points(answer: dict[str, Any], job_type: str) -> dict[float, dict[str, Any]]:
    [series] = [s for s in answer["series"] if s["type"] == job_type]
    return {p["t"]: p for p in series["points"]}


@pytest.fixture
async def srv_flushed_by_hand(tmp_path) -> AsyncIterator[InProcessServer]:
    """A server whose flush timer never comes due on the driven clock: only the test flushes
    (and samples the queue's depth), so what each minute holds does not race a timer."""
    server = InProcessServer(
        tmp_path / "jobs.db", clock=ManualClock(T0), history_flush_seconds=10 * 86400
    )
    async with started(server):
        yield server


async def test_rollups_across_minute_and_hour_boundaries(srv_flushed_by_hand):
    srv = srv_flushed_by_hand
    clock, history = srv.clock, srv.services.history
    async with srv.client() as admin:
        clock.advance(3540)  # the last minute of the first hour
        await run_one(admin, clock, "mail", wait=2, run=0.5)
        await admin.call("jobs.create", {"type": "mail"})
        [job] = await admin.call("jobs.claim", {"types": ["mail"]})
        fail = {"id": job["id"], "lease": job["lease"]["token"], "error": "no", "fatal": True}
        await admin.call("jobs.fail", fail)
        clock.advance(3600 + 10 - 3540 - 2.5)  # into the second hour
        await run_one(admin, clock, "mail", wait=0, run=3)
        await admin.call("jobs.create", {"type": "mail"})  # left ready: the queue's depth
        before = await admin.call("stats.history", {"since": T0})
        await history.flush()
        minutes = await admin.call("stats.history", {"since": T0})
        hours = await admin.call("stats.history", {"resolution": "hour", "since": T0})

    def no_depth(answer: dict[str, Any]) -> list[Any]:  # the flush samples the depth
        return [{**p, "depth": None} for s in answer["series"] for p in s["points"]]

    assert no_depth(minutes) == no_depth(before)  # pending counts read as stored ones
    by_minute = points(minutes, "mail")
    assert sorted(by_minute) == [T0 + 3540, T0 + 3600]
    first, second = by_minute[T0 + 3540], by_minute[T0 + 3600]
    assert (first["created"], first["started"], first["completed"], first["failed"]) == (2, 2, 1, 1)
    assert first["failure_rate"] == 0.5 and first["depth"] is None
    assert first["wait"]["count"] == 2 and 1 < first["wait"]["p90"] <= 2.5
    assert first["run"]["count"] == 2 and first["run"]["mean"] == 0.25
    assert (second["created"], second["started"], second["completed"]) == (2, 1, 1)
    assert second["run"]["mean"] == 3.0 and second["depth"] == 1.0
    by_hour = points(hours, "mail")
    assert (by_hour[T0]["created"], by_hour[T0 + 3600]["created"]) == (2, 2)
    assert by_hour[T0]["completed"] + by_hour[T0 + 3600]["completed"] == 2


async def test_the_timer_flushes_in_batches(srv):
    clock, history = srv.clock, srv.services.history
    async with srv.client() as admin:
        for _ in range(3):
            await run_one(admin, clock, "mail", wait=1, run=1)
        assert await srv.services.store.rollups("minute", 0) == []  # nothing written per job
        history.passed.clear()
        clock.advance(srv.settings.history_flush_seconds)
        await asyncio.wait_for(history.passed.wait(), 10)
    [row] = await srv.services.store.rollups("minute", 0)
    assert (row.start, row.type, row.counts["completed"]) == (T0, "mail", 3)


async def test_two_servers_on_one_file_each_add_their_own(tmp_path):
    clock = ManualClock(T0)
    a = InProcessServer(tmp_path / "jobs.db", clock=clock)
    b = InProcessServer(tmp_path / "jobs.db", clock=clock)
    async with started(a, b), a.client() as on_a, b.client() as on_b:
        for _ in range(3):
            await run_one(on_a, clock, "mail", wait=1, run=1)
        for _ in range(2):
            await run_one(on_b, clock, "mail", wait=1, run=1)
        clock.advance(60)
        await run_one(on_a, clock, "mail", wait=1, run=1)
        await a.settle()
        await b.settle()
        await a.services.history.flush()
        await b.services.history.flush()
        seen = [await c.call("stats.history", {"since": T0}) for c in (on_a, on_b)]
    assert seen[0]["series"] == seen[1]["series"]
    by_minute = points(seen[0], "mail")
    assert [(p["created"], p["completed"]) for p in by_minute.values()] == [(5, 5), (1, 1)]
    assert by_minute[T0]["wait"]["count"] == 5


async def test_old_rollups_are_pruned(tmp_path):
    srv = InProcessServer(tmp_path / "jobs.db", clock=ManualClock(T0), history_minutes_seconds=120)
    async with started(srv), srv.client() as admin:
        await run_one(admin, srv.clock, "mail", wait=1, run=1)
        await srv.services.history.flush()
        srv.clock.advance(600)
        await srv.services.history.prune()
        minutes = await admin.call("stats.history", {"since": T0})
        hours = await admin.call("stats.history", {"resolution": "hour", "since": T0})
    assert minutes["series"] == []
    assert points(hours, "mail")[T0]["completed"] == 1


async def test_who_may_read_history(srv):
    async with srv.client() as admin:
        await run_one(admin, srv.clock, "mail", wait=1, run=1)
        await run_one(admin, srv.clock, "secret", wait=1, run=1)
    tokens = {
        "mail-worker": await srv.token("worker", "w-mail", types=["mail"]),
        "any-worker": await srv.token("worker", "w-any"),
        "creator": await srv.token("creator", "ann"),
        "manager": await srv.token("manager", "mo"),
    }

    async def types(who: str, **params: Any) -> list[str]:
        async with srv.client(tokens[who]) as client:
            answer = await client.call("stats.history", {"since": T0, **params})
        return [s["type"] for s in answer["series"]]

    assert await types("manager") == await types("any-worker") == ["mail", "secret"]
    assert await types("mail-worker") == ["mail"]
    for who, params in (("mail-worker", {"type": "secret"}), ("creator", {})):
        with pytest.raises(CallError) as info:
            await types(who, **params)
        assert info.value.code == "forbidden", who
    async with srv.client() as admin:
        with pytest.raises(CallError) as info:
            await admin.call("stats.history", {"resolution": "day"})
        assert info.value.code == "invalid"


async def test_metrics_show_the_last_complete_minute(srv):
    async with srv.client() as admin:
        for wait in (1, 2, 4):
            await run_one(admin, srv.clock, "mail", wait=wait, run=1)
        await srv.services.history.flush()
        srv.clock.advance(60)
        answer = await admin.call("stats.history", {"since": T0})
    [point] = points(answer, "mail").values()
    samples = await scrape(srv)
    assert value(samples, "livejobs_minute_jobs", type="mail", event="completed") == 3
    assert value(samples, "livejobs_minute_jobs", type="mail", event="created") == 3
    assert value(samples, "livejobs_minute_failure_rate", type="mail") == 0
    for q in ("0.5", "0.9", "0.99"):
        got = value(samples, "livejobs_minute_wait_seconds", type="mail", quantile=q)
        assert got == pytest.approx(point["wait"][f"p{round(float(q) * 100)}"])


async def test_counts_wait_in_memory_while_the_store_fails(srv, monkeypatch):
    store, history = srv.services.store, srv.services.history
    async with srv.client() as admin:
        await run_one(admin, srv.clock, "mail", wait=1, run=1)

        async def down(rows):
            raise Unavailable("the store is away")

        monkeypatch.setattr(store, "add_rollups", down)
        with pytest.raises(Unavailable):
            await history.flush()
        monkeypatch.undo()
        await run_one(admin, srv.clock, "mail", wait=1, run=1)
        await history.flush()
        assert [r.counts["completed"] for r in await store.rollups("minute", 0)] == [2]
        await history.flush()  # nothing pending: nothing added twice
        answer = await admin.call("stats.history", {"since": 0})
    assert points(answer, "mail")[T0]["completed"] == 2
