"""``jobs.drain``: a queue emptied of its waiting, ready and paused jobs (cancelled, kept per
their retain time), running jobs left to finish, for managers and admins only, each job as
the caller may act on it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from livejobs.service import by_filter
from livejobs_sdk.errors import LivejobsError
from tests.servers import InProcessServer


async def test_drain_cancels_the_queued_jobs_of_a_filter_and_leaves_the_rest(
    server: InProcessServer,
) -> None:
    async with server.client() as client:
        ready = [(await client.job("mail").save()).id for _ in range(3)]
        delayed = (await client.job("mail").delay(3600).save()).id
        paused = (await client.job("mail").save()).id
        await client.call("jobs.pause", {"id": paused})
        running = (await client.job("mail").save()).id
        [claimed] = await client.call("jobs.claim", {"types": ["mail"], "limit": 1})
        assert claimed["id"] == ready[0]  # the oldest: it runs, the one saved last waits
        other = (await client.job("sms").save()).id
        assert await client.drain({"type": "mail"}, reason="mail outage") == 5
        docs = {
            d["id"]: d for d in await client.get_jobs([*ready, delayed, paused, running, other])
        }
    assert docs[ready[0]]["status"] == "running"
    for job_id in (*ready[1:], delayed, paused, running):
        assert docs[job_id]["status"] == "cancelled", job_id
        assert docs[job_id]["reason"] == "mail outage"
    assert docs[other]["status"] == "ready"


async def test_drain_takes_the_oldest_first_up_to_its_limit(server: InProcessServer) -> None:
    async with server.client() as client:
        ids = [(await client.job("mail").save()).id for _ in range(5)]
        assert await client.drain({"type": "mail"}, limit=2) == 2
        statuses = [d["status"] for d in await client.get_jobs(ids)]
        assert statuses == ["cancelled", "cancelled", "ready", "ready", "ready"]
        assert await client.drain() == 3  # no filter: every queued job this caller may act on
        assert await client.drain() == 0


async def test_drain_is_for_managers_and_admins(server: InProcessServer) -> None:
    async with server.client() as admin:
        ids = [(await admin.job(t).save()).id for t in ("mail", "billing", "mail")]
    for role, name in (("worker", "w1"), ("creator", "c1")):
        token = await server.token(role, name, types=["mail"])
        async with server.client(token) as client:
            with pytest.raises(LivejobsError) as refused:
                await client.drain({"type": "mail"})
            assert refused.value.code == "forbidden", role
    manager = await server.token("manager", "m1")
    async with server.client(manager) as client:
        assert await client.drain({"type": "mail"}) == 2
        statuses = [d["status"] for d in await client.get_jobs(ids)]
    assert statuses == ["cancelled", "ready", "cancelled"]


async def test_drain_over_http_checks_its_params(server: InProcessServer) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        await http.post("/api/jobs", json={"type": "mail"})
        for bad in ({"limit": 0}, {"filter": {"$where": 1}}, {"reason": "x" * 1001}):
            answer = await http.post("/api/call/jobs.drain", json=bad)
            assert answer.status_code == 400, (bad, answer.text)
        answer = await http.post("/api/call/jobs.drain", json={"filter": {"type": "mail"}})
        assert answer.status_code == 200 and answer.json() == {"result": {"cancelled": 1}}


async def test_drain_keeps_to_the_deny_rules_of_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(by_filter, "CLEAN_CHUNK", 1)  # every refused report is paged past
    srv = InProcessServer(tmp_path / "jobs.db", rules="tests.rules_example:RULES")
    await srv.start()
    try:
        async with srv.client() as client:
            types = ["report", "mail", "report", "mail"]
            ids = [(await client.job(t).save()).id for t in types]
            assert await client.drain() == 2
            statuses = [d["status"] for d in await client.get_jobs(ids)]
    finally:
        await srv.stop()
    assert statuses == ["ready", "cancelled", "ready", "cancelled"]


async def test_clean_keeps_to_the_deny_rules_of_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As drain keeps to cancel's: a call by filter acts on a job only as the per-job call
    would (the example rules deny removing ``ledger`` jobs)."""
    monkeypatch.setattr(by_filter, "CLEAN_CHUNK", 1)  # every refused job is paged past
    srv = InProcessServer(tmp_path / "jobs.db", rules="tests.rules_example:RULES")
    await srv.start()
    try:
        async with srv.client() as client:
            ids = []
            for job_type in ("ledger", "mail", "ledger", "mail"):
                ids.append((await client.job(job_type).save()).id)
                await client.call("jobs.cancel", {"id": ids[-1]})
            assert await client.clean() == 2
            with pytest.raises(LivejobsError) as refused:
                await client.call("jobs.remove", {"id": ids[0]})
            left = [d["id"] for d in await client.get_jobs(ids)]
    finally:
        await srv.stop()
    assert refused.value.code == "forbidden"
    assert left == [ids[0], ids[2]]
