"""Guarantee 3: live subscribers converge. Fifty subscribers with random filters, each behind
its own TCP proxy, watch 2,000 changes (creates, pauses, cancels, restarts, removals, notes,
reruns, plus a worker running and failing jobs) while the driver cuts random subscribers'
connections and once kills the server with SIGKILL. At the end each subscriber holds exactly
what a fresh query with its filter returns, document for document.

The end is synchronised, not waited out: one marker job per subscriber, matched only by that
subscriber's filter, is created after the last change; the change feed is ordered, so once a
subscriber holds its marker (and its snapshot is complete) it has seen everything before it.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from livejobs.visibility import FIELDS
from livejobs_sdk import CallError, Client
from tests.helpers import running_worker
from tests.reliability.procs import Caller, Proxy
from tests.servers import ProcessServer

#: fields a query returns but a subscription never carries (``livejobs.visibility``)
NOT_LIVE = frozenset(name for name, field in FIELDS.items() if not field.live)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SUBSCRIBERS = 50
CHANGES = 2000
CUT_EVERY = 20  # changes between two rounds of cuts
SERVER_KILL_AT = 1000
LAST_CUT = 1800  # then quiet, so the last reconnections settle before the markers
TYPES = ["a", "b", "c", "d"]
STATUSES = ["waiting", "ready", "running", "paused", "completed", "failed", "cancelled"]
TAGS = ["x", "y", "z", "ü", "日本"]


def random_condition(rng: random.Random) -> dict[str, Any]:
    k = rng.randrange(15)
    if k == 0:
        return {"type": rng.choice(TYPES)}
    if k == 1:
        return {"status": rng.choice(STATUSES)}
    if k == 2:
        return {"status": {"$in": rng.sample(STATUSES, rng.randint(1, 3))}}
    if k == 3:
        return {"status": {"$nin": rng.sample(STATUSES, rng.randint(1, 3))}}
    if k == 4:
        return {"data.n": {"$gte": rng.randint(0, 99)}}
    if k == 5:
        low = rng.randint(0, 80)
        return {"data.n": {"$gt": low, "$lt": low + rng.randint(5, 40)}}
    if k == 6:
        return {"data.tag": rng.choice(TAGS)}
    if k == 7:
        return {"data.flag": rng.choice([True, False])}
    if k == 8:
        return {"data.opt": {"$exists": rng.choice([True, False])}}
    if k == 9:
        return {"priority": {"$lte": rng.choice([-10, 0, 5])}}
    if k == 10:
        return {"data.list": rng.randrange(10)}
    if k == 11:
        return {"data.tag": {"$ne": rng.choice(TAGS)}}
    if k == 12:
        return {"data.opt": None}
    if k == 13:
        return {"attempts": {"$gte": rng.randint(1, 2)}}
    return {"data.list.0": rng.randrange(10)}


def random_filter(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.1:
        return {}
    if roll < 0.6:
        merged: dict[str, Any] = {}
        for _ in range(rng.randint(1, 2)):
            merged.update(random_condition(rng))
        return merged
    if roll < 0.8:
        return {"$or": [random_condition(rng), random_condition(rng)]}
    return {
        "$and": [random_condition(rng), {"$or": [random_condition(rng), random_condition(rng)]}]
    }


def subscriber_filter(i: int, rng: random.Random) -> dict[str, Any]:
    """A random filter over the test's jobs, or this subscriber's own marker."""
    return {
        "$or": [
            {"$and": [{"type": {"$in": TYPES}}, random_filter(rng)]},
            {"type": "marker", "data.sub": i},
        ]
    }


def random_data(rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {
        "n": rng.randint(0, 99) if rng.random() < 0.9 else str(rng.randint(0, 99)),
        "tag": rng.choice(TAGS),
        "flag": rng.choice([True, False]),
        "list": rng.sample(range(10), rng.randint(0, 3)),
    }
    if rng.random() < 0.5:
        data["opt"] = rng.choice([None, 1, "o"])
    return data


class Subscriber:
    """One client and one subscription; a task reads its events (counting resets)."""

    def __init__(self, i: int, filter: dict[str, Any], proxy: Proxy, token: str) -> None:
        self.i = i
        self.filter = filter
        self.client = Client(proxy.ws_url, token=token)
        self.sub = self.client.subscribe(filter)
        self.resets = 0
        self._event = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.connect()
        await self.sub.start()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.sub:
            self.resets += event.kind == "reset"
            self._event.set()

    async def wait_for(self, marker: str, timeout: float) -> None:
        """Until the marker is held and the snapshot it came in (if any) is complete."""

        async def wait() -> None:
            while not (marker in self.sub.docs and self.sub.ready.is_set()):
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(wait(), timeout)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.client.close()


async def change(caller: Caller, rng: random.Random, ids: list[str]) -> bool:
    """One random change; False when it was refused (illegal from the job's state)."""
    roll = rng.random()
    try:
        if roll < 0.35 or not ids:
            spec: dict[str, Any] = {
                "type": rng.choice(TYPES),
                "data": random_data(rng),
                "priority": rng.choice([-10, 0, 5, "high", "low"]),
                "retry": {"retries": 1},
            }
            if rng.random() < 0.1:
                spec["delay"] = 3600
            ids.append((await caller.call("jobs.create", spec))["id"])
        elif roll < 0.4:
            specs = [{"type": rng.choice(TYPES), "data": random_data(rng)} for _ in range(3)]
            ids += (await caller.call("jobs.create_many", {"jobs": specs}))["ids"]
        else:
            job_id = rng.choice(ids)
            action = rng.choice(
                ["pause", "resume", "cancel", "restart", "remove", "log", "log", "ready", "rerun"]
            )
            if action == "log":
                await caller.call("jobs.log", {"id": job_id, "message": f"note {rng.random()}"})
            else:
                result = await caller.call(f"jobs.{action}", {"id": job_id})
                if action == "rerun":
                    ids.append(result["id"])
                if action == "remove":
                    ids.remove(job_id)
        return True
    except CallError as exc:
        if exc.code in ("conflict", "not_found"):
            return False
        raise


async def test_subscribers_converge_to_a_fresh_query(tmp_path):
    rng = random.Random(7)
    server = ProcessServer(tmp_path / "jobs.db", "--lease", "2")
    await server.start()
    proxies: list[Proxy] = []
    subscribers: list[Subscriber] = []
    caller = Caller(server)
    try:
        for _ in range(SUBSCRIBERS + 1):  # the last one carries the worker
            proxies.append(await Proxy(server.port).start())
        subscribers = [
            Subscriber(i, subscriber_filter(i, rng), proxies[i], server.admin_token)
            for i in range(SUBSCRIBERS)
        ]
        await asyncio.gather(*(s.start() for s in subscribers))

        luck = random.Random(8)  # the worker's own, so that the driver's sequence is fixed

        async def work(job):
            await asyncio.sleep(luck.random() / 100)
            if luck.random() < 0.2:
                raise RuntimeError("planned")
            return job.data.get("n")

        async with (
            Client(proxies[-1].ws_url, token=server.admin_token) as worker_client,
            running_worker(worker_client, "a", work, concurrency=3),
        ):
            await drive(caller, server, proxies, rng)
        await wait_until_nothing_runs(caller)
        markers = (
            await caller.call(
                "jobs.create_many",
                {"jobs": [{"type": "marker", "data": {"sub": s.i}} for s in subscribers]},
            )
        )["ids"]
        await asyncio.gather(
            *(s.wait_for(m, 30) for s, m in zip(subscribers, markers, strict=True))
        )
        diverged = []
        for s in subscribers:
            fresh = await caller.call("jobs.find", {"filter": s.filter, "limit": 10_000})
            # subscriptions never carry ``private`` (docs/security.md), admins' included
            expected = {d["id"]: {k: v for k, v in d.items() if k not in NOT_LIVE} for d in fresh}
            if s.sub.docs != expected:
                diverged.append(describe(s, expected))
        assert not diverged, "\n".join(diverged[:5])
        cuts = sum(p.cuts for p in proxies)
        resets = [s.resets for s in subscribers]
        print(
            f"\nconvergence: {SUBSCRIBERS} subscribers, {CHANGES} changes, {cuts} connections "
            f"cut, resets per subscriber {min(resets)}..{max(resets)}, "
            f"{sum(len(s.sub.docs) for s in subscribers)} documents held in all"
        )
        assert min(resets) >= 1  # everyone lived through the server kill at least
    finally:
        for s in subscribers:
            await s.close()
        await caller.close()
        for proxy in proxies:
            await proxy.close()
        await server.stop()


async def drive(
    caller: Caller, server: ProcessServer, proxies: list[Proxy], rng: random.Random
) -> None:
    ids: list[str] = []
    done = 0
    for _ in range(CHANGES * 5):  # bounded: refused changes do not count
        if done == CHANGES:
            return
        if not await change(caller, rng, ids):
            continue
        done += 1
        if done == SERVER_KILL_AT:
            for proxy in proxies:
                proxy.hold()
            await server.kill()
            await server.start()
            for proxy in proxies:
                proxy.release()
        elif done % CUT_EVERY == 0 and done <= LAST_CUT:
            for proxy in rng.sample(proxies[:SUBSCRIBERS], rng.randint(1, 3)):
                proxy.cut()
    raise AssertionError(f"only {done} of {CHANGES} changes were accepted")


async def wait_until_nothing_runs(caller: Caller) -> None:
    """Leases of jobs running when the server was killed expire by themselves (lease 2 s)."""
    assert caller.client is not None
    async with caller.client.subscribe({"status": "running"}) as sub:

        async def empty() -> None:
            while not (sub.ready.is_set() and not sub.docs):
                await sub.next()

        await asyncio.wait_for(empty(), 20)


def describe(s: Subscriber, expected: dict[str, dict[str, Any]]) -> str:
    held = s.sub.docs
    missing = expected.keys() - held.keys()
    extra = held.keys() - expected.keys()
    stale = [i for i in expected.keys() & held.keys() if expected[i] != held[i]]
    sample = ""
    if stale:
        i = stale[0]
        sample = (
            f"; e.g. {i}: held v{held[i]['version']} {held[i]['status']}, "
            f"fresh v{expected[i]['version']} {expected[i]['status']}"
        )
    return (
        f"subscriber {s.i} {s.filter}: {len(missing)} missing, {len(extra)} extra, "
        f"{len(stale)} stale{sample}"
    )
