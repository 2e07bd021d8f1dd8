"""Issue 24, items 4, 5 and 9 against a live server through the SDK and HTTP: failed jobs
pruned like the others, clean-up by filter, schedules upserted by key and listed, LIFO claims
and unique keys with a period."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livejobs.service import by_filter
from livejobs_sdk import CallError, Fatal, SyncClient
from tests.helpers import collect_until_ready, running_worker, wait_count, wait_status
from tests.servers import InProcessServer


async def _post(srv: InProcessServer, path: str, body: Any, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or srv.admin_token}"}
    async with httpx.AsyncClient(base_url=srv.http_url, headers=headers) as http:
        return await http.post(path, json=body)


# -- 4. retention of failed jobs, clean-up by filter ------------------------------------------


async def test_failed_jobs_are_pruned_after_their_retain_time(clocked_server):
    async def fatal(job):
        raise Fatal("no")

    clock = clocked_server.clock
    async with clocked_server.client() as client:
        expiring = await client.job("gone").retain(60).expire(10).save()
        failing = await client.job("gone").retain(60).save()
        kept = await client.job("kept").expire(10).save()  # the server default: 7 days
        async with running_worker(client, "gone", fatal):
            await wait_status(client, failing.id, "failed")
        clock.advance(11)
        await wait_status(client, expiring.id, "failed")
        await wait_status(client, kept.id, "failed")
        clock.advance(61)
        await wait_count(client, {"type": "gone"}, 0)
        assert (await client.get_job(kept.id))["status"] == "failed"
        clock.advance(7 * 86400)
        await wait_count(client, {"type": "kept"}, 0)


async def test_a_types_retain_rule_prunes_its_finished_jobs_sooner(clocked_server):
    clock = clocked_server.clock
    async with clocked_server.client() as client:
        rules = await client.set_type_retain("brief", 30)
        assert rules["retain"] == 30
        assert [r["type"] for r in await client.call("types.list")] == ["brief"]
        brief, own, other = (
            await client.job("brief").save(),
            await client.job("brief").retain(3600).save(),  # a job's own retain wins
            await client.job("long").save(),
        )
        for job in (brief, own, other):
            await job.cancel()
        clock.advance(31)
        await wait_count(client, {"type": "brief"}, 1)
        assert {d["id"] for d in await client.find({})} == {own.id, other.id}
    reply = await _post(clocked_server, "/api/call/types.set_retain", {"type": "brief"})
    assert "retain" not in reply.json()["result"]


async def test_clean_removes_finished_jobs_by_filter_in_chunks(server, monkeypatch):
    monkeypatch.setattr(by_filter, "CLEAN_CHUNK", 2)
    store = server.services.jobs.store
    chunks: list[int] = []
    delete_many = store.delete_many

    async def counted(jobs):
        chunks.append(len(jobs))
        return await delete_many(jobs)

    monkeypatch.setattr(store, "delete_many", counted)
    async with server.client() as client:
        ids = await client.create_many([{"type": "c"} for _ in range(5)])
        await client.cancel_jobs(ids)
        running = await client.job("c").save()
        other = await client.job("d").save()
        await other.cancel()
        async with client.subscribe({"type": "c"}) as sub:
            await collect_until_ready(sub)
            assert await client.clean({"type": "c"}, limit=1) == 1
            assert await client.clean({"type": "c"}) == 4
            removed = set()
            while len(removed) < 5:
                event = await sub.next(5)
                if event.kind == "removed":
                    removed.add(event.id)
        assert removed == set(ids)
        assert chunks == [1, 2, 2, 0]  # at most CLEAN_CHUNK per store transaction
        left = await client.find({"type": {"$in": ["c", "d"]}})
        assert {d["id"] for d in left} == {running.id, other.id}
    reply = await _post(server, "/api/call/jobs.clean", {"filter": {"type": "d"}})
    assert reply.status_code == 200 and reply.json() == {"result": {"removed": 1}}


async def test_clean_is_for_managers_and_admins(server):
    creator = await server.token("creator", "cora")
    async with server.client(creator) as client:
        job = await client.job("mine").save()
        await job.cancel()
        with pytest.raises(CallError) as info:
            await client.clean({"type": "mine"})
        assert info.value.code == "forbidden"
    manager = await server.token("manager", "max")
    assert (await _post(server, "/api/call/jobs.clean", {}, manager)).json()["result"] == {
        "removed": 1
    }


# -- 5. schedules upserted by key, and listed ---------------------------------------------------


async def test_saving_a_repeating_job_again_under_its_key_replaces_its_schedule(clocked_server):
    now = clocked_server.clock.now()
    async with clocked_server.client() as client:
        first = await client.job("tick", {"v": 1}).key("k").repeat(every=60).delay(60).save()
        again = await client.job("tick", {"v": 2}).key("k").repeat(every=3600).delay(3600).save()
        assert again.id == first.id
        doc = await client.get_job(first.id)
        assert doc["repeat"]["every"] == 3600 and doc["data"] == {"v": 2}
        assert doc["after"] == pytest.approx(now + 3600) and doc["status"] == "waiting"
        await client.job("once").save()
        [listed] = await client.schedules()
        assert listed["id"] == first.id and listed["key"] == "k" and listed["type"] == "tick"
        assert listed["repeat"]["every"] == 3600 and listed["next"] == pytest.approx(now + 3600)
    reply = await _post(clocked_server, "/api/call/schedules.list", {})
    assert [s["key"] for s in reply.json()["result"]] == ["k"]


# -- 9. LIFO, unique keys with a period ----------------------------------------------------------


async def test_lifo_jobs_are_claimed_before_older_jobs_of_their_priority(server):
    async with server.client() as client:
        names = {}
        for name, lifo, priority in [
            ("a", False, "normal"),
            ("b", True, "normal"),
            ("c", True, "normal"),
            ("d", False, "normal"),
            ("e", False, "high"),
        ]:
            job = client.job("order", {"n": name}).priority(priority)
            names[(await (job.lifo() if lifo else job).save()).id] = name
    order = []
    for _ in names:
        [claimed] = (await _post(server, "/api/claim", {"types": ["order"]})).json()["result"]
        order.append(names[claimed["id"]])
    assert order == ["e", "c", "b", "a", "d"]


async def test_a_unique_key_blocks_duplicates_for_its_period_after_the_job_finished(
    clocked_server,
):
    clock = clocked_server.clock
    async with clocked_server.client() as client:
        first = await client.job("u").key("once").unique_for(60).save()
        await first.cancel()
        clock.advance(30)
        again = await client.job("u").key("once").unique_for(60).save()
        assert again.id == first.id and again.status == "cancelled"
        plain = await client.job("u").key("once").save()  # no period: a finished job frees it
        assert plain.id != first.id
        await plain.cancel()
        clock.advance(5)
        within = await client.job("u").key("once").unique_for(10).save()
        assert within.id == plain.id  # plain finished 5 s ago
        clock.advance(6)
        newest = await client.job("u").key("once").unique_for(10).save()
        assert newest.id not in (first.id, plain.id) and newest.status == "ready"
        with pytest.raises(CallError) as info:
            await client.job("u").unique_for(10).save()
        assert info.value.code == "invalid"
    reply = await _post(clocked_server, "/api/jobs", {"type": "u", "key": "once", "unique_for": 60})
    assert reply.json()["result"]["id"] == newest.id


def test_the_sync_client_mirrors_lifo_unique_for_schedules_and_clean(sync_server):
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        older = client.job("s").save()
        newer = client.job("s").lifo().save()
        ticking = client.job("t").key("tick").repeat(every=60).delay(60).save()
        client.job("t").key("tick").repeat(every=120).delay(120).save()
        [listed] = client.schedules()
        assert listed["id"] == ticking.id and listed["repeat"]["every"] == 120
        once = client.job("u").key("u").unique_for(60).save()
        once.cancel()
        assert client.job("u").key("u").unique_for(60).save().id == once.id
        assert client.clean({"type": "u"}) == 1
        assert client.set_type_time_limit("v", 30)["time_limit"] == 30
        assert client.job("v").save().doc["time_limit"] == 30
        claimed = client.call("jobs.claim", {"types": ["s"]})
        assert [job["id"] for job in claimed] == [newer.id] and older.id != newer.id
