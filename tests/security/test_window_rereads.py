"""Live windows, count feeds and reads by filter cannot take the store from everyone else.

A window is kept by asking the store again after changes (``livejobs.runtime.windows``), and
some rereads are slow: a window far down the list (``skip``), a sort or a count on a field no
index serves. Ten such subscriptions from one manager, with jobs changing, kept the store's
reader busy with rereads queued ahead of every other read: a ``jobs.counts`` by another user
took seconds instead of milliseconds. Rereads now take turns, one at a time on a server and
each user's in turn, each followed by a rest as long as it took, so a call waits for at most
one reread.

The same held for calls: a hundred ``jobs.find`` with an order no index serves, sent at once on
one connection, queued ahead of every other read (another user's call: 10 s). A user's reads by
filter now run at most two at a time (``livejobs.runtime.user_reads``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livejobs.runtime import windows
from livejobs.runtime.user_reads import PER_USER, UserReads
from livejobs_sdk import Client
from tests.helpers import collect_until_ready
from tests.servers import InProcessServer

JOBS = 30_000
#: slow windows and count feeds one manager holds (each a reread of thousands of rows)
HEAVY = [
    *({"sort": {"created": 1}, "limit": 1, "skip": JOBS - 5_000 + i} for i in range(8)),
    *({"sort": {"data.n": 1}, "limit": 1 + i} for i in range(4)),
    *({"filter": {"data.n": {"$ne": i}}, "counts": True} for i in range(4)),
]


async def _fill(srv: InProcessServer) -> None:
    async with srv.client() as admin:
        for start in range(0, JOBS, 5_000):
            jobs = [{"type": "t", "delay": 3600, "data": {"n": start + i}} for i in range(5_000)]
            await admin.call("jobs.create_many", {"jobs": jobs})


@contextlib.asynccontextmanager
async def _churning(srv: InProcessServer) -> AsyncIterator[None]:
    """Jobs changing all along, as on a busy server: every window is touched again."""

    async def churn() -> None:
        async with srv.client() as admin:
            while True:
                await admin.call("jobs.create", {"type": "churn"})

    task = asyncio.create_task(churn())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _calls(srv: InProcessServer, token: str, seconds: float) -> list[tuple[float, float]]:
    """When each of a user's calls, made one after another for ``seconds``, began and ended."""
    async with Client(srv.ws_url, token=token) as client:
        calls: list[tuple[float, float]] = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            began = time.monotonic()
            await client.counts({"type": "nothing"})
            calls.append((began, time.monotonic()))
        return calls


Turn = tuple[str, float, float]


def _record_turns(monkeypatch: pytest.MonkeyPatch, owner: type[Any]) -> list[Turn]:
    """Every turn ``owner.turn`` gives in the in-process server: whose, when it began and
    ended (measured in turns, not seconds: a read's length is the machine's)."""
    done: list[Turn] = []
    take_turn = owner.turn

    @contextlib.asynccontextmanager
    async def recorded(self: Any, user: str) -> AsyncIterator[None]:
        async with take_turn(self, user):
            began = time.monotonic()
            try:
                yield
            finally:
                done.append((user, began, time.monotonic()))

    monkeypatch.setattr(owner, "turn", recorded)
    return done


@pytest.fixture
def rereads(monkeypatch: pytest.MonkeyPatch) -> list[Turn]:
    """Every window reread."""
    return _record_turns(monkeypatch, windows.Turns)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Turn]:
    """Every read by filter (``jobs.find``, ``jobs.counts``, ...) and window reread."""
    return _record_turns(monkeypatch, UserReads)


def _ended_within(turns: list[Turn], user: str, began: float, ended: float) -> int:
    """How many of ``user``'s turns ended between ``began`` and ``ended``."""
    return sum(who == user and began < end < ended for who, _, end in turns)


async def test_slow_windows_of_one_user_leave_the_store_to_others(
    server: InProcessServer, rereads: list[Turn]
) -> None:
    """Measured in rereads, not seconds (a reread's length is the machine's): another user's
    call waits for at most the reread in the store, its window for at most one reread; without
    turns, each waited for every reread queued before it (a dozen)."""
    await _fill(server)
    mia, ann = await server.token("manager", "mia"), await server.token("manager", "ann")
    async with Client(server.ws_url, token=mia) as hostile:
        subs: list[Any] = []
        for spec in HEAVY:
            options = {k: v for k, v in spec.items() if k != "filter"}
            sub = hostile.subscribe(spec.get("filter", {}), **options)
            await sub.__aenter__()
            subs.append(sub)
        for sub in subs:
            await collect_until_ready(sub, timeout=60)
        async with _churning(server):
            calls = await _calls(server, ann, 3.0)
            created = await _seen_in_a_window(server, ann)
        for sub in subs:
            await sub.__aexit__(None, None, None)
    assert sum(user == "mia" for user, _, _ in rereads) > 20  # reread all along
    assert max(_ended_within(rereads, "mia", *call) for call in calls) <= 2
    # and another user's window takes its turn beside them, not after all of them
    shown = min(end for user, began, end in rereads if user == "ann" and began > created)
    assert _ended_within(rereads, "mia", created, shown) <= 2


async def _seen_in_a_window(srv: InProcessServer, token: str) -> float:
    """When a job was created (``time.monotonic()``) that then arrived in a live window of
    its type."""
    async with (
        Client(srv.ws_url, token=token) as client,
        client.subscribe({"type": "fresh"}, sort={"created": 1}, limit=5) as window,
    ):
        await collect_until_ready(window, timeout=60)
        started = time.monotonic()
        await client.call("jobs.create", {"type": "fresh"})
        while not window.docs:
            await window.next(60)
        return started


async def test_many_slow_reads_of_one_user_leave_the_store_to_others(
    server: InProcessServer, reads: list[Turn]
) -> None:
    """Another user's call waits for the hostile user's reads in the store (two at most),
    not for the hundred it sent."""
    await _fill(server)
    mia, ann = await server.token("manager", "mia"), await server.token("manager", "ann")
    slow = {"filter": {"type": "t"}, "sort": {"data.n": -1}, "limit": 1}

    async with Client(server.ws_url, token=mia) as hostile:

        async def flood() -> None:
            while True:
                await asyncio.gather(*(hostile.call("jobs.find", slow) for _ in range(100)))

        task = asyncio.create_task(flood())
        try:
            await hostile.call("jobs.find", slow)  # the flood has begun
            calls = await _calls(server, ann, 3.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert sum(user == "mia" for user, _, _ in reads) > 20  # the flood ran all along
    # a count is two store reads, each behind at most the hostile user's PER_USER, and one
    # more may end as the call travels
    assert max(_ended_within(reads, "mia", *call) for call in calls) <= 2 * PER_USER + 1
