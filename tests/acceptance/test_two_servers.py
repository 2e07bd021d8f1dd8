"""Two servers on one SQLite file, as two processes would share it: work created on one runs on
the other's workers, subscribers see every change, and every flow rule holds across both.

Both servers run in this event loop and share one driven clock; each has its own store
connection, feed and dispatcher, and learns of the other's commits only through the store's
cross-process feed (``livejobs.store.sqlite.peers``).

A rule that holds is shown by what did not happen; so that "not yet" cannot pass for "never",
each check first has both workers take a probe job of their own type: a worker's claim covers
all of its types, so once both probes are done, both servers have claimed since the state under
test, and found nothing more they were allowed to start.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import websockets

from livejobs.clock import ManualClock
from livejobs_sdk import Client
from tests.helpers import running_worker, wait_count, wait_status
from tests.servers import InProcessServer, ProcessServer, started


@pytest.fixture
async def servers(tmp_path) -> AsyncIterator[tuple[InProcessServer, InProcessServer]]:
    clock = ManualClock()
    a = InProcessServer(tmp_path / "jobs.db", clock=clock)
    b = InProcessServer(tmp_path / "jobs.db", clock=clock)
    async with started(a, b):
        yield a, b


class Gate:
    """A handler that holds its jobs until released, counting how many ran at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = self.peak = 0

    async def __call__(self, job: Any) -> str:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return f"ran {job.data}"


async def probe_both(a: Client, b: Client) -> None:
    """Both servers' workers have claimed since now (see the module's docstring)."""
    jobs = [await a.job("probe-a").save(), await b.job("probe-b").save()]
    await asyncio.gather(*(job.result(timeout=10) for job in jobs))


async def two_workers(
    stack: AsyncExitStack, a: Client, b: Client, job_type: str, handler: Any, **options: Any
) -> None:
    async def probe(job: Any) -> str:
        return "probed"

    async def route(job: Any) -> Any:
        return await (probe if job.type.startswith("probe-") else handler)(job)

    await stack.enter_async_context(running_worker(a, [job_type, "probe-a"], route, **options))
    await stack.enter_async_context(running_worker(b, [job_type, "probe-b"], route, **options))


async def test_work_and_changes_cross_between_servers(servers):
    a_server, b_server = servers

    async def handler(job: Any) -> str:
        return f"done {job.data}"

    async with a_server.client() as a, b_server.client() as b:
        async with b.subscribe({"type": "crossing"}) as watched:
            await watched.ready.wait()
            async with running_worker(b, "crossing", handler):
                job = await a.job("crossing", 7).save()  # created on A, run by B's worker
                assert await job.result(timeout=10) == "done 7"
            while watched.docs.get(job.id, {}).get("status") != "completed":
                await watched.next(10)  # B's subscriber saw the change B's worker made
        assert (await a.get_job(job.id))["result"] == "done 7"


async def test_rate_limit_holds_across_servers(servers):
    a_server, b_server = servers
    clock = a_server.clock
    started: list[float] = []

    async def handler(job: Any) -> None:
        started.append(clock.now())

    async with a_server.client() as a, b_server.client() as b, AsyncExitStack() as stack:
        await a.call("types.set_limits", {"type": "api", "rate_limit": 3, "rate_per": 60})
        await two_workers(stack, a, b, "api", handler, concurrency=5)
        await b.create_many([("api", i) for i in range(8)])
        await wait_count(a, {"type": "api", "status": "completed"}, 3)
        await probe_both(a, b)
        assert len(started) == 3
        clock.advance(60)  # the window moves on: the timer of either server wakes its worker
        await wait_count(b, {"type": "api", "status": "completed"}, 6)
        await probe_both(a, b)
        assert len(started) == 6
        clock.advance(60)
        await wait_count(a, {"type": "api", "status": "completed"}, 8)
    assert len(started) == 8


async def test_global_concurrency_holds_across_servers(servers):
    a_server, b_server = servers
    handler = Gate()

    async with a_server.client() as a, b_server.client() as b, AsyncExitStack() as stack:
        await b.call("types.set_limits", {"type": "heavy", "concurrency": 2})
        await two_workers(stack, a, b, "heavy", handler, concurrency=5)
        await a.create_many([("heavy", i) for i in range(6)])
        await wait_count(a, {"type": "heavy", "status": "running"}, 2)
        await probe_both(a, b)
        assert handler.peak == 2
        assert len(await b.find({"type": "heavy", "status": "running"})) == 2
        handler.release.set()
        await wait_count(b, {"type": "heavy", "status": "completed"}, 6)
    assert handler.peak == 2


async def test_pause_on_one_server_stops_starts_on_the_other(servers):
    a_server, b_server = servers

    async def handler(job: Any) -> str:
        return "ran"

    async with a_server.client() as a, b_server.client() as b:
        await a.call("types.pause", {"type": "q"})
        async with running_worker(b, ["q", "probe-b"], handler):
            job = await a.job("q").save()
            probe = await b.job("probe-b").save()
            assert await probe.result(timeout=10) == "ran"
            assert (await b.get_job(job.id))["status"] == "ready"
            assert [t for t in await b.call("types.list") if t["type"] == "q"][0]["paused"]
            await a.call("types.resume", {"type": "q"})
            assert await job.result(timeout=10) == "ran"


async def test_two_server_processes_share_work_and_limits(tmp_path):
    """The same with two ``livejobs serve`` processes on one file: a job created through one
    process runs on the other's worker, and a concurrency limit set through one process holds
    for workers of both (real clock: the rate limit is proven with the driven clock above)."""
    first = ProcessServer(tmp_path / "jobs.db")
    second = ProcessServer(tmp_path / "jobs.db")
    handler = Gate()

    await first.start()
    try:
        await second.start()
        async with first.client() as a, second.client() as b, AsyncExitStack() as stack:
            crossing = await a.job("crossing", 1).save()
            async with running_worker(b, "crossing", handler):
                handler.release.set()
                assert await crossing.result(timeout=10) == "ran 1"
            handler.release.clear()
            await a.call("types.set_limits", {"type": "heavy", "concurrency": 2})
            await two_workers(stack, a, b, "heavy", handler, concurrency=5)
            jobs = [await b.job("heavy", i).save() for i in range(6)]
            await wait_count(a, {"type": "heavy", "status": "running"}, 2)
            await probe_both(a, b)
            assert handler.peak == 2
            handler.release.set()
            assert len(await asyncio.gather(*(j.result(timeout=10) for j in jobs))) == 6
        assert handler.peak == 2
    finally:
        await second.stop()
        await first.stop()


async def test_rule_changes_are_pushed_to_watchers_on_every_server(servers):
    """``types.watch`` (what the dashboard uses): a rule set through A reaches a watcher
    connected to B as a pushed ``types`` frame with the whole list."""
    a_server, b_server = servers

    async def call(raw: Any, call_id: int, method: str, params: dict[str, Any]) -> Any:
        await raw.send(
            json.dumps({"msg": "call", "id": call_id, "method": method, "params": params})
        )
        while True:
            frame = json.loads(await asyncio.wait_for(raw.recv(), 10))
            if frame.get("id") == call_id:
                assert frame["msg"] == "result", frame
                return frame["result"]

    async def pushed(raw: Any) -> list[dict[str, Any]]:
        while True:
            frame = json.loads(await asyncio.wait_for(raw.recv(), 10))
            if frame.get("msg") == "types":
                return list(frame["types"])

    reader = await b_server.token("worker", "reader")
    async with websockets.connect(b_server.ws_url) as raw, a_server.client() as a:
        await call(raw, 1, "auth", {"token": reader})
        assert await call(raw, 2, "types.watch", {}) == []
        await a.call("types.set_limits", {"type": "api", "rate_limit": 5, "rate_per": 1})
        assert await pushed(raw) == [
            {
                "type": "api",
                "paused": False,
                "rate_limit": 5,
                "rate_per": 1,
                "concurrency": None,
                "rev": 1,
            }
        ]
        await a.call("types.pause", {"type": "api"})
        assert (await pushed(raw))[0]["paused"] is True
        await a.call("types.set_limits", {"type": "api"})
        await a.call("types.resume", {"type": "api"})
        while await pushed(raw):  # the last push: no type has rules left
            pass


async def test_debounce_merges_saves_made_through_either_server(servers):
    a_server, b_server = servers
    clock = a_server.clock
    debounce = {"seconds": 10, "max_wait": 25}

    async with a_server.client() as a, b_server.client() as b:
        first = await a.job("reindex", {"v": 1}).key("doc-7").debounce(10, max_wait=25).save()
        clock.advance(5)
        second = await b.job("reindex", {"v": 2}).key("doc-7").debounce(10, max_wait=25).save()
        assert second.id == first.id and second.data == {"v": 2}
        clock.advance(5)
        batch = [{"type": "reindex", "data": {"v": 3}, "key": "doc-7", "debounce": debounce}]
        assert await a.create_many(batch) == [first.id]  # a batch debounces like a single save
        [doc] = await b.find({"type": "reindex"})
        assert doc["data"] == {"v": 3}
        assert doc["after"] == pytest.approx(clock.now() + 10)
        clock.advance(10)
        assert (await wait_status(a, first.id, "ready"))["data"] == {"v": 3}


async def test_cancel_through_one_server_reaches_a_handler_on_the_other(servers):
    a_server, b_server = servers
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(job: Any) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with a_server.client() as a, b_server.client() as b:
        async with running_worker(b, "long", handler):
            job = await a.job("long").save()
            await asyncio.wait_for(started.wait(), 10)
            await job.cancel()  # through A; the worker holding the job is connected to B
            await asyncio.wait_for(cancelled.wait(), 10)
        assert (await b.get_job(job.id))["status"] == "cancelled"


async def test_private_fields_stay_private_on_the_other_server(servers):
    a_server, b_server = servers
    secret = {"api_key": "s3cr3t"}

    async def handler(job: Any) -> str:
        assert job.private == secret  # the worker holding the lease gets it, through B
        return "charged"

    async with a_server.client() as a, b_server.client() as b:
        async with b.subscribe({"type": "charge"}) as watched:
            await watched.ready.wait()
            async with running_worker(b, "charge", handler):
                job = await a.job("charge", {"amount": 5}).private(secret).save()
                assert await job.result(timeout=10) == "charged"
            seen = [(await watched.next(10)).doc]
            while seen[-1] is None or seen[-1]["status"] != "completed":
                seen.append((await watched.next(10)).doc)
        assert all(doc is None or "s3cr3t" not in json.dumps(doc) for doc in seen)
        assert (await b.get_job(job.id))["private"] == secret  # an admin reads it back
