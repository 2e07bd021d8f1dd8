"""Live windows through the SDK on a real server, SQLite and PostgreSQL: the window holds the
first ``limit`` jobs in ``sort`` order; a job entering pushes the last one out, a job leaving
is refilled from the store, a change inside is pushed, one outside is not; and the count feed
follows the store's counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from livejobs_sdk import Subscription
from tests.servers import InProcessServer


@pytest.fixture(params=["sqlite", "postgres"])
async def srv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcessServer]:
    db: Any = tmp_path / "jobs.db"
    if request.param == "postgres":
        db = request.getfixturevalue("pg_cluster").create_database()
    server = InProcessServer(db)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def until(sub: Subscription, done: Any, timeout: float = 10) -> list[str]:
    """Events until ``done(sub)`` holds after one; their kinds."""
    kinds: list[str] = []

    async def wait() -> None:
        while not (sub.ready.is_set() and done(sub)):
            kinds.append((await sub.next()).kind)

    await asyncio.wait_for(wait(), timeout)
    return kinds


def prios(sub: Subscription) -> list[int]:
    return [doc["data"]["n"] for doc in sub.rows]


async def test_window_enter_leave_refill(srv: InProcessServer) -> None:
    async with srv.client() as client:
        ids = [(await client.job("w", {"n": n}).priority(n).save()).id for n in range(10)]
        live = {"type": "w", "status": {"$in": ["ready", "paused"]}}
        window = client.subscribe(live, sort=[("priority", -1)], limit=3)
        async with window as sub:
            await until(sub, lambda s: prios(s) == [9, 8, 7])
            assert sub.more and set(sub.docs) == {ids[9], ids[8], ids[7]}
            # enters at the top: 7 leaves the window (removed), not the client's whole list
            await client.job("w", {"n": 20}).priority(20).save()
            kinds = await until(sub, lambda s: prios(s) == [20, 9, 8])
            assert "removed" in kinds and "added" in kinds and ids[7] not in sub.docs
            # a member leaves the filter: the window is refilled from the store
            await client.cancel_jobs([ids[9]])
            await until(sub, lambda s: prios(s) == [20, 8, 7])
            # a job below the window changes: nothing is pushed for it
            await client.cancel_jobs([ids[0]])
            await client.pause_jobs([ids[8]])  # inside, still matching: pushed as changed
            await until(sub, lambda s: s.docs[ids[8]]["status"] == "paused")
            assert ids[0] not in sub.docs


async def test_window_skip_and_counts(srv: InProcessServer) -> None:
    async with srv.client() as client:
        await client.create_many([("p", {"n": n}) for n in range(5)])
        page2 = client.subscribe(
            {"type": "p", "status": "ready"}, sort=[("created", 1)], limit=2, skip=2
        )
        counts = client.subscribe({}, counts=True)
        async with page2 as sub, counts as feed:
            await until(sub, lambda s: prios(s) == [2, 3])
            await until(feed, lambda f: f.counts.get("type", {}).get("p") == 5)
            first = await client.find({"type": "p"}, sort=[("created", 1)], limit=1)
            await client.cancel_jobs([first[0]["id"]])
            await until(sub, lambda s: prios(s) == [3, 4] and not s.more)
            await until(feed, lambda f: f.counts["status"].get("cancelled") == 1)
        assert prios(sub) == [3, 4] and sub.more is False
        assert feed.counts["status"] == {"ready": 4, "cancelled": 1}


async def test_window_bad_params(srv: InProcessServer) -> None:
    async with srv.client() as client:
        for params in ({"sort": [["created", -1]]}, {"limit": 0}, {"counts": True, "limit": 5}):
            with pytest.raises(Exception, match="invalid|limit|counts|sort"):
                await client._conn.call("subscribe", {"filter": {}, **params})


async def test_search_window(srv: InProcessServer) -> None:
    async with srv.client() as client:
        await client.create_many([("s", {"who": f"user{n}"}) for n in range(20)])
        wanted = (await client.job("s", {"customer": "Acme-Widgets"}).save()).id
        found = await client.find({"$search": "acme"})
        assert [doc["id"] for doc in found] == [wanted]
        window = client.subscribe({"$search": "widgets"}, sort=[("created", -1)], limit=5)
        async with window as sub:
            await until(sub, lambda s: s.order == [wanted])
            later = (await client.job("s", {"customer": "More Widgets"}).save()).id
            await until(sub, lambda s: s.order == [later, wanted])
