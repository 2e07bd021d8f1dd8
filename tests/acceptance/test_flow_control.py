"""Flow control over the public SDK against a live server with a driven clock: rate limits,
global concurrency, queue pause, debounce, snooze, cancellation and private fields."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from livejobs_sdk import CallError, Client, Snooze
from tests.helpers import running_worker, wait_count, wait_for_doc, wait_status


async def test_rate_limit_holds_over_several_windows(clocked_server):
    clock = clocked_server.clock
    started: list[float] = []

    async def handler(job):
        started.append(clock.now())

    async with clocked_server.client() as client:
        limits = await client.call(
            "types.set_limits", {"type": "api", "rate_limit": 3, "rate_per": 60}
        )
        assert limits["rate_limit"] == 3
        await client.create_many([("api", i) for i in range(8)])
        async with running_worker(client, "api", handler, concurrency=10):
            await wait_count(client, {"type": "api", "status": "completed"}, 3)
            await clocked_server.settle()
            assert (
                await client.find({"type": "api", "status": "completed"}, limit=100)
                and len(started) == 3
            )
            clock.advance(59)
            await clocked_server.settle()
            assert len(started) == 3
            clock.advance(1)
            await wait_count(client, {"type": "api", "status": "completed"}, 6)
            clock.advance(60)
            await wait_count(client, {"type": "api", "status": "completed"}, 8)
        assert len(started) == 8
        assert {d["type"] for d in await client.call("types.list")} == {"api"}


async def test_global_concurrency_across_workers(clocked_server):
    release = asyncio.Event()
    running = 0
    peak = 0
    n = 6

    async def handler(job):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    async with clocked_server.client() as a, clocked_server.client() as b:
        await a.call("types.set_limits", {"type": "heavy", "concurrency": 2})
        await a.create_many([("heavy", i) for i in range(n)])
        async with (
            running_worker(a, "heavy", handler, concurrency=5),
            running_worker(b, "heavy", handler, concurrency=5),
        ):
            await wait_count(a, {"type": "heavy", "status": "running"}, 2)
            await clocked_server.settle()
            assert await a.find({"type": "heavy", "status": "running"}) and peak == 2
            release.set()
            await wait_count(a, {"type": "heavy", "status": "completed"}, n)
    assert peak == 2


async def test_pause_and_resume_a_queue(clocked_server):
    async def handler(job):
        return "ran"

    async with clocked_server.client() as client:
        await client.call("types.pause", {"type": "q"})
        job = await client.job("q").save()
        async with running_worker(client, "q", handler):
            await clocked_server.settle()
            assert (await client.get_job(job.id))["status"] == "ready"
            await client.call("types.resume", {"type": "q"})
            assert await job.result(timeout=10) == "ran"


async def test_debounce_replaces_the_pending_job_with_a_maximum_wait(clocked_server):
    clock = clocked_server.clock
    async with clocked_server.client() as client:
        saved = await client.job("reindex", {"v": 1}).key("doc-7").debounce(10, max_wait=25).save()
        first = saved.doc
        clock.advance(8)
        second = await client.call(
            "jobs.create",
            {
                "type": "reindex",
                "data": {"v": 2},
                "key": "doc-7",
                "debounce": {"seconds": 10, "max_wait": 25},
            },
        )
        assert second["id"] == first["id"] and second["data"] == {"v": 2}
        assert second["after"] == pytest.approx(clock.now() + 10)
        clock.advance(8)
        third = await client.call(
            "jobs.create",
            {
                "type": "reindex",
                "data": {"v": 3},
                "key": "doc-7",
                "debounce": {"seconds": 10, "max_wait": 25},
            },
        )
        assert third["after"] == pytest.approx(first["created"] + 25)  # capped by max_wait
        assert len(await client.find({"type": "reindex"})) == 1
        clock.advance(9)
        doc = await wait_status(client, first["id"], "ready")
        assert doc["data"] == {"v": 3}
        with pytest.raises(CallError) as info:
            await client.call("jobs.create", {"type": "x", "debounce": {"seconds": 1}})
        assert info.value.code == "invalid"


async def test_snooze_puts_the_job_back_without_an_attempt(clocked_server):
    calls = []

    async def handler(job):
        calls.append(job.attempt)
        if len(calls) == 1:
            raise Snooze(30)
        return "second"

    async with clocked_server.client() as client:
        job = await client.job("sleepy").save()
        async with running_worker(client, "sleepy", handler):
            doc = await wait_status(client, job.id, "waiting")
            assert doc["attempts"] == 0 and doc["failures"] == []
            clocked_server.clock.advance(30)
            assert await job.result(timeout=10) == "second"
    assert calls == [1, 1]


async def test_cancel_reaches_the_running_handler_at_once(clocked_server):
    started = asyncio.Event()
    cancelled = asyncio.Event()
    cooperative = asyncio.Event()

    async def handler(job):
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if job.cancelled.is_set():
                cooperative.set()
            cancelled.set()
            raise

    async with clocked_server.client() as client:
        job = await client.job("long").save()
        async with running_worker(client, "long", handler):
            await asyncio.wait_for(started.wait(), 10)
            await job.cancel()
            # the cancel is pushed from the change feed before the call's reply is sent
            await asyncio.wait_for(cancelled.wait(), 0.1)
        assert cooperative.is_set()
        assert (await client.get_job(job.id))["status"] == "cancelled"


async def test_private_fields_never_reach_subscribers_or_non_admins(clocked_server):
    secret = {"api_key": "s3cr3t"}
    creator_token = await clocked_server.token("creator", "cleo")
    frames: list[str] = []
    async with websockets.connect(clocked_server.ws_url) as raw:
        await raw.send(
            json.dumps(
                {
                    "msg": "call",
                    "id": 1,
                    "method": "auth",
                    "params": {"token": clocked_server.admin_token},
                }
            )
        )
        frames.append(await raw.recv())
        await raw.send(
            json.dumps({"msg": "call", "id": 2, "method": "subscribe", "params": {"filter": {}}})
        )
        async with Client(clocked_server.ws_url, token=creator_token) as cleo:
            job = await cleo.job("charge", {"amount": 5}).private(secret).save()
            # a field the caller may not read is absent (docs/security.md), not null
            assert "private" not in job.doc
            assert "private" not in await cleo.get_job(job.id)
            async with clocked_server.client() as admin:
                assert (await admin.get_job(job.id))["private"] == secret

                async def handler(work):
                    assert work.private == secret
                    return "charged"

                async with running_worker(admin, "charge", handler):
                    await wait_for_doc(cleo, job.id, lambda d: d["status"] == "completed")
        # a call's reply is queued after every change the feed has already fanned out
        await raw.send(json.dumps({"msg": "call", "id": 3, "method": "types.list", "params": {}}))
        while '"id":3' not in frames[-1]:
            frames.append(await asyncio.wait_for(raw.recv(), 5))
    sub_frames = [json.loads(f) for f in frames if '"sub"' in f]
    assert any(f["msg"] == "changed" for f in sub_frames)
    assert all("s3cr3t" not in f for f in frames)


async def test_prefetch_holds_jobs_ahead_but_runs_only_concurrency_at_once(clocked_server):
    release = asyncio.Event()
    both_busy = asyncio.Event()
    running = 0
    peak = 0

    async def handler(job):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            both_busy.set()
        await release.wait()
        running -= 1

    async with clocked_server.client() as client:
        await client.create_many([("pre", i) for i in range(6)])
        async with running_worker(client, "pre", handler, concurrency=2, prefetch=2):
            held = await wait_count(client, {"type": "pre", "status": "running"}, 4)
            await asyncio.wait_for(both_busy.wait(), 10)
            [worker] = await client.call("workers.list")
            assert sorted(worker["running"]) == sorted(d["id"] for d in held)
            assert worker["prefetch"] == 2
            release.set()
            await wait_count(client, {"type": "pre", "status": "completed"}, 6)
    assert peak == 2
