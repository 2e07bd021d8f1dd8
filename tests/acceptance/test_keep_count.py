"""``types.set_keep``: a type keeps only its newest N finished jobs of a status (BullMQ's
``removeOnComplete: {count}``); older ones are removed by the server, those finished before the
rule included, and every subscriber sees them go. Statuses the rule does not name keep their
jobs; removing the rule stops the trimming."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from livejobs.service import by_filter
from livejobs_sdk.errors import LivejobsError
from tests.servers import InProcessServer


async def finish(
    client: Any,
    job_type: str,
    action: str = "done",
    *,
    keep: dict[str, int] | None = None,
    creator: Any = None,
) -> str:
    """Create a job of ``job_type`` (by ``creator``, default ``client``; with its own counts
    ``keep``) and complete (or fail) it at once through ``client``; its id."""
    job = (creator or client).job(job_type)
    if keep is not None:
        job = job.keep(**keep)
    job = await job.save()
    assert job.doc["keep"] == keep
    [claimed] = await client.call("jobs.claim", {"types": [job_type], "limit": 1})
    assert claimed["id"] == job.id
    params = {"id": job.id, "lease": claimed["lease"]["token"]}
    await client.call(f"jobs.{action}", params | ({"error": "x"} if action == "fail" else {}))
    return str(job.id)


async def settle_at(watched: Any, count: int) -> list[str]:
    """Wait until the subscription holds ``count`` jobs; their ids."""
    while len(watched.docs) != count:
        await watched.next(10)
    return sorted(watched.docs)


async def test_a_type_keeps_its_newest_completed_jobs(server: InProcessServer) -> None:
    async with server.client() as client:
        done = [await finish(client, "mail") for _ in range(5)]
        failed = [await finish(client, "mail", "fail") for _ in range(3)]
        async with client.subscribe({"type": "mail", "status": "completed"}) as watched:
            await asyncio.wait_for(watched.ready.wait(), 10)
            rules = await client.set_type_keep("mail", completed=2)
            assert rules["keep"] == {"completed": 2}
            assert await settle_at(watched, 2) == sorted(done[-2:])  # the older three went
            later = [await finish(client, "mail") for _ in range(2)]
            assert await settle_at(watched, 2) == sorted(later)
        assert len(await client.get_jobs(failed)) == 3  # failed jobs are not counted
        listed = {r["type"]: r for r in await client.call("types.list", {})}
        assert listed["mail"]["keep"] == {"completed": 2}

        assert "keep" not in await client.set_type_keep("mail")  # no counts: the rule goes
        after = [await finish(client, "mail") for _ in range(3)]
        assert len(await client.get_jobs(after)) == 3
        assert await client.call("types.list", {}) == []


async def test_keep_zero_removes_each_job_as_it_finishes(server: InProcessServer) -> None:
    """``removeOnFail: true``: failed jobs go at once; completed ones stay (not named)."""
    async with server.client() as client:
        await client.set_type_keep("sms", failed=0)
        async with client.subscribe({"type": "sms"}) as watched:
            await asyncio.wait_for(watched.ready.wait(), 10)
            completed = await finish(client, "sms")
            await finish(client, "sms", "fail")
            assert await settle_at(watched, 1) == [completed]


async def test_set_keep_checks_its_params_and_its_caller(server: InProcessServer) -> None:
    async with server.client() as admin:
        for keep in ({"running": 1}, {"completed": -1}, {"completed": "ten"}, [1]):
            with pytest.raises(LivejobsError) as refused:
                await admin.call("types.set_keep", {"type": "mail", "keep": keep})
            assert refused.value.code == "invalid", keep
    for role, name in (("worker", "w1"), ("creator", "c1")):
        async with server.client(await server.token(role, name, types=["mail"])) as client:
            with pytest.raises(LivejobsError) as refused:
                await client.set_type_keep("mail", completed=1)
            assert refused.value.code == "forbidden", role
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        bad = await http.post("/api/call/types.set_keep", json={"type": "mail", "keep": {"x": 1}})
        assert bad.status_code == 400, bad.text
        body = {"type": "mail", "keep": {"failed": 9}}
        good = await http.post("/api/call/types.set_keep", json=body)
        assert good.status_code == 200, good.text
        assert good.json()["result"]["keep"] == {"failed": 9}


async def test_a_backlog_is_trimmed_a_chunk_at_a_time(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs finished before the rule, more than a chunk of them: every chunk goes, and only
    the newest stay."""
    monkeypatch.setattr(by_filter, "CLEAN_CHUNK", 3)
    async with server.client() as client:
        done = [await finish(client, "bulk") for _ in range(11)]
        async with client.subscribe({"type": "bulk"}) as watched:
            await asyncio.wait_for(watched.ready.wait(), 10)
            await client.set_type_keep("bulk", completed=2)
            assert await settle_at(watched, 2) == sorted(done[-2:])


async def test_a_job_carries_its_own_count(server: InProcessServer) -> None:
    """BullMQ's ``removeOnComplete: {count}`` on a job: when it completes, its type keeps the
    newest N completed jobs; jobs finishing without a count trim nothing; a type's rule and a
    job's count together keep the smaller."""
    async with server.client() as client:
        plain = [await finish(client, "mail") for _ in range(4)]
        async with client.subscribe({"type": "mail", "status": "completed"}) as watched:
            await asyncio.wait_for(watched.ready.wait(), 10)
            assert await settle_at(watched, 4) == sorted(plain)
            last = await finish(client, "mail", keep={"completed": 2})
            assert await settle_at(watched, 2) == sorted([plain[-1], last])
            more = [await finish(client, "mail") for _ in range(3)]  # no count: all stay
            assert await settle_at(watched, 5) == sorted([plain[-1], last, *more])
            await client.set_type_keep("mail", completed=3)
            assert await settle_at(watched, 3) == sorted(more)
            final = await finish(client, "mail", keep={"completed": 5})  # the rule's 3 wins
            assert await settle_at(watched, 3) == sorted([*more[1:], final])
        failed = [await finish(client, "mail", "fail") for _ in range(2)]  # no count for them
        assert {d["id"] for d in await client.find({"status": "failed"})} == set(failed)


async def test_a_jobs_count_is_checked_and_read_as_its_retain(server: InProcessServer) -> None:
    async with server.client() as admin:
        for keep in ({"running": 1}, {"completed": -1}, {"completed": "ten"}, [1]):
            with pytest.raises(LivejobsError) as refused:
                await admin.call("jobs.create", {"type": "mail", "keep": keep})
            assert refused.value.code == "invalid", keep
        job = await admin.job("mail").keep(failed=9).save()
        assert (await admin.get_job(job.id))["keep"] == {"failed": 9}
    worker = await server.token("worker", "w1", types=["mail"])
    async with server.client(worker) as client:
        [claimed] = await client.call("jobs.claim", {"types": ["mail"], "limit": 1})
        assert claimed["keep"] == {"failed": 9}  # the worker running it reads it, as retain


async def test_a_jobs_count_trims_only_its_owners_jobs(server: InProcessServer) -> None:
    """A creator may remove only its own jobs: its job's count keeps the newest of its own
    completed jobs of the type, and leaves everyone else's (the type's count, which managers
    set, is the one that covers every owner)."""
    creator = await server.token("creator", "cleo", types=["mail"])
    async with server.client() as admin, server.client(creator) as cleo:
        others = [await finish(admin, "mail") for _ in range(3)]
        own = [await finish(admin, "mail", creator=cleo) for _ in range(2)]
        async with admin.subscribe({"type": "mail", "status": "completed"}) as watched:
            await asyncio.wait_for(watched.ready.wait(), 10)
            # keep none of cleo's completed jobs
            last = await finish(admin, "mail", keep={"completed": 0}, creator=cleo)
            assert await settle_at(watched, 3) == sorted(others)
        assert not {last, *own} & {d["id"] for d in await admin.find({"type": "mail"})}
