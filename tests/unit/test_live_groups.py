"""Subscriptions sharing a group get each change through the group's run: a member joining or
leaving while a run is open gets exactly the changes made while it was a member."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from livejobs import protocol
from livejobs.flusher import Flusher
from livejobs.runtime.connection import Connection
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.store.base import Change


class EmptyStore:
    """Snapshots find nothing: every frame a member gets comes from a change."""

    async def find(self, filter: dict[str, Any]) -> list[dict[str, Any]]:
        return []


def added(n: int) -> Change:
    return Change("insert", f"j{n}", {"id": f"j{n}", "type": "t", "version": 1})


async def settled(subscriptions: Subscriptions) -> None:
    """Let the snapshot tasks finish (they go live at their end)."""
    while subscriptions._tasks:
        await asyncio.gather(*subscriptions._tasks)


async def received(session: Connection) -> list[tuple[str, str | None]]:
    """Everything queued for ``session``: (msg, job id) in order, as its writer would send."""
    frames: list[dict[str, Any]] = []
    while session._outbox:
        taken = await session.take()
        assert taken is not None
        message = json.loads(protocol.join(taken))
        frames += message if isinstance(message, list) else [message]
    assert session.queued == 0  # every frame counted in was taken out
    return [(f["msg"], f.get("doc", {}).get("id")) for f in frames]


async def test_members_joining_and_leaving_an_open_run_get_exactly_their_changes():
    # after its first flush this flusher counts as busy and waits an hour: runs stay open
    # until something else seals them
    flusher = Flusher(interval=3600, crowd=0)
    subscriptions = Subscriptions(EmptyStore(), flusher)  # type: ignore[arg-type]
    first, second = Connection(flusher=flusher), Connection(flusher=flusher)
    first.batch = second.batch = True
    leaving = subscriptions.open(first, "s1", {"type": "t"}, "admin")
    await settled(subscriptions)

    subscriptions.on_change(added(1))  # a run opens for the first member alone
    subscriptions.open(second, "s2", {"type": "t"}, "admin")
    subscriptions.on_change(added(2))  # the second is starting: held in its backlog
    await settled(subscriptions)  # it goes live, which seals the first run
    subscriptions.on_change(added(3))  # a new run, for both
    subscriptions.close(leaving)  # sealed before the first member leaves
    subscriptions.on_change(added(4))  # a run for the second alone
    for session in (first, second):
        session.close("test over")  # the writers send what is queued, open runs sealed

    assert await received(first) == [
        ("ready", None),
        ("added", "j1"),
        ("added", "j2"),
        ("added", "j3"),
    ]
    assert await received(second) == [
        ("ready", None),
        ("added", "j2"),
        ("added", "j3"),
        ("added", "j4"),
    ]


async def test_the_flush_seals_runs_so_later_changes_start_a_new_one():
    flusher = Flusher()
    subscriptions = Subscriptions(EmptyStore(), flusher)  # type: ignore[arg-type]
    session = Connection(flusher=flusher)
    session.batch = True
    subscriptions.open(session, "s1", {}, "admin")
    await settled(subscriptions)
    await received(session)

    subscriptions.on_change(added(1))
    subscriptions.on_change(added(2))
    assert session.queued == 0  # one open run: its frames count once it is sealed
    await asyncio.sleep(0)  # the flusher runs on the next loop iteration
    assert session.queued == 2
    subscriptions.on_change(added(3))
    assert await received(session) == [("added", "j1"), ("added", "j2"), ("added", "j3")]
    assert len(session._outbox) == 0
