"""``types.obliterate``: a job type gone at once, every job of it whatever its status and its
rules, for managers and admins; running jobs only with ``force`` (their handlers are told to
stop); a job the caller's rules keep it from cancelling or removing stays, and so do the
type's rules then."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from livejobs.clock import ManualClock
from livejobs_sdk.errors import LivejobsError
from tests.helpers import running_worker, wait_count
from tests.servers import InProcessServer, started


async def _one_of_each(client: Any, job_type: str) -> list[str]:
    """A completed, a failed, a ready, a paused and a delayed job of ``job_type``."""
    ids = [(await client.job(job_type).save()).id for _ in range(2)]
    for action in ("done", "fail"):
        [claimed] = await client.call("jobs.claim", {"types": [job_type], "limit": 1})
        params = {"id": claimed["id"], "lease": claimed["lease"]["token"]}
        await client.call(f"jobs.{action}", params | ({"error": "x"} if action == "fail" else {}))
    ids += [(await client.job(job_type).save()).id for _ in range(2)]
    await client.call("jobs.pause", {"id": ids[-1]})
    ids.append((await client.job(job_type).delay(3600).save()).id)
    return ids


async def test_obliterate_removes_every_job_of_a_type_and_its_rules(
    server: InProcessServer,
) -> None:
    async with server.client() as client:
        ids = await _one_of_each(client, "mail")
        other = (await client.job("sms").save()).id
        await client.call("types.set_limits", {"type": "mail", "concurrency": 2})
        await client.set_type_time_limit("mail", 60)
        await client.call("types.set_limits", {"type": "sms", "concurrency": 1})
        async with client.subscribe({"type": "mail"}) as watched:
            await asyncio.wait_for(watched.ready.wait(), 10)
            assert len(watched.docs) == 5
            done = await client.obliterate("mail")
            while watched.docs:  # every job reaches the subscriber as removed
                await watched.next(10)
        assert done == {"cancelled": 3, "removed": 5, "kept": 0}
        assert await client.get_jobs(ids) == []
        assert [d["id"] for d in await client.get_jobs([other])] == [other]
        assert [r["type"] for r in await client.call("types.list", {})] == ["sms"]
        again = await client.job("mail").save()  # the type starts afresh, without rules
        assert (await client.get_job(again.id))["time_limit"] is None


async def test_running_jobs_hold_an_obliterate_unless_forced(tmp_path: Path) -> None:
    """Through one server while the handler runs on another: refused without ``force``, and
    with it the handler is cancelled and the other server forgets the type's rules too."""
    started_event, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(job: Any) -> None:
        started_event.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    clock = ManualClock()
    a_server = InProcessServer(tmp_path / "jobs.db", clock=clock)
    b_server = InProcessServer(tmp_path / "jobs.db", clock=clock)
    async with started(a_server, b_server), a_server.client() as a, b_server.client() as b:
        await a.call("types.set_limits", {"type": "long", "concurrency": 5})
        async with running_worker(b, "long", handler):
            job = await a.job("long").save()
            queued = await a.job("long").delay(3600).save()
            await asyncio.wait_for(started_event.wait(), 10)
            with pytest.raises(LivejobsError) as refused:
                await a.obliterate("long")
            assert refused.value.code == "conflict" and "running" in refused.value.message
            assert {d["status"] for d in await a.get_jobs([job.id, queued.id])} == {
                "running",
                "waiting",
            }
            assert not [r for r in await a.call("types.list", {}) if r.get("paused")]
            done = await a.obliterate("long", force=True, reason="retired")
            await asyncio.wait_for(cancelled.wait(), 10)
        assert done == {"cancelled": 2, "removed": 2, "kept": 0}
        assert await b.get_jobs([job.id, queued.id]) == []
        await wait_count(b, {"type": "long"}, 0)
        for client in (a, b):
            assert await client.call("types.list", {}) == []


async def test_obliterate_is_for_managers_and_admins(server: InProcessServer) -> None:
    async with server.client() as admin:
        job = await admin.job("mail").save()
    for role, name in (("worker", "w1"), ("creator", "c1")):
        token = await server.token(role, name, types=["mail"])
        async with server.client(token) as client:
            with pytest.raises(LivejobsError) as refused:
                await client.obliterate("mail")
            assert refused.value.code == "forbidden", role
    manager = await server.token("manager", "m1")
    async with server.client(manager) as client:
        assert await client.obliterate("mail") == {"cancelled": 1, "removed": 1, "kept": 0}
        assert await client.get_jobs([job.id]) == []


async def test_obliterate_over_http_checks_its_params(server: InProcessServer) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        await http.post("/api/jobs", json={"type": "mail"})
        for bad in ({}, {"type": ""}, {"type": "mail", "force": "yes"}, {"type": "mail", "x": 1}):
            answer = await http.post("/api/call/types.obliterate", json=bad)
            assert answer.status_code == 400, (bad, answer.text)
        answer = await http.post("/api/call/types.obliterate", json={"type": "mail"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"result": {"cancelled": 1, "removed": 1, "kept": 0}}


async def test_a_job_the_rules_keep_stays_and_so_do_the_types_rules(tmp_path: Path) -> None:
    """The example rules deny cancelling ``report`` jobs to everyone (tests/rules_example.py):
    an obliterate of ``report`` removes its finished jobs, keeps its queued one, and leaves
    the type's rules as they were, not paused."""
    srv = InProcessServer(tmp_path / "jobs.db", rules="tests.rules_example:RULES")
    await srv.start()
    try:
        async with srv.client() as client:
            finished = (await client.job("report").save()).id
            queued = (await client.job("report").save()).id
            [claimed] = await client.call("jobs.claim", {"types": ["report"], "limit": 1})
            assert claimed["id"] == finished
            token = claimed["lease"]["token"]
            await client.call("jobs.done", {"id": finished, "lease": token})
            await client.call("types.set_limits", {"type": "report", "concurrency": 3})
            done = await client.obliterate("report")
            left = [d["id"] for d in await client.get_jobs([queued, finished])]
            rules = await client.call("types.list", {})
    finally:
        await srv.stop()
    assert done == {"cancelled": 0, "removed": 1, "kept": 1}
    assert left == [queued]
    assert [(r["type"], r["concurrency"], r["paused"]) for r in rules] == [("report", 3, False)]


async def test_a_kept_job_of_a_type_without_rules_can_still_run(tmp_path: Path) -> None:
    """The pause an obliterate puts on the type while it works is gone afterwards, also when
    the type had no rules to give back."""
    srv = InProcessServer(tmp_path / "jobs.db", rules="tests.rules_example:RULES")
    await srv.start()
    try:
        async with srv.client() as client:
            queued = (await client.job("report").save()).id
            assert await client.obliterate("report") == {"cancelled": 0, "removed": 0, "kept": 1}
            assert await client.call("types.list", {}) == []
            [claimed] = await client.call("jobs.claim", {"types": ["report"], "limit": 1})
    finally:
        await srv.stop()
    assert claimed["id"] == queued
