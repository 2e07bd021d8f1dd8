"""The MongoDB change feed's recovery (``MongoStore._follow``) on scripted change streams: what
it resumes from after each kind of failure, and when it tells watchers to re-query (a reset).
No mongod runs here; the contract suite runs the real stream when a replica set is at hand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from livejobs.store.mongo import MongoStore


class ScriptedStream:
    """Yields its events, then raises ``then`` (or waits forever when it is None). Like
    MongoDB's, its token moves on while it waits, unless ``advances`` is False."""

    def __init__(
        self,
        token: Any,
        events: list[dict[str, Any]],
        then: Exception | None,
        *,
        advances: bool = True,
    ) -> None:
        self.resume_token, self.events, self.then = token, list(events), then
        self.advances = advances
        self.closed = False

    def __aiter__(self) -> ScriptedStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        await asyncio.sleep(0)
        if self.events:
            event = self.events.pop(0)
            self.resume_token = event["_id"]
            return event
        if self.then is None:
            await asyncio.Event().wait()
        if self.advances:
            self.resume_token = {"idle": self.resume_token}
        raise self.then  # type: ignore[misc]

    async def close(self) -> None:
        self.closed = True


def insert(n: int) -> dict[str, Any]:
    return {
        "_id": {"t": n},
        "operationType": "insert",
        "ns": {"db": "livejobs", "coll": "jobs"},
        "documentKey": {"_id": f"j{n}"},
        "fullDocument": {"_id": f"j{n}", "status": "ready"},
    }


HISTORY_LOST = OperationFailure("history lost", code=286)


class Harness:
    """A store following scripted streams: the first is the one ``open()`` made, the others
    are handed out in turn, each time noting the token asked to resume from."""

    def __init__(self, *streams: ScriptedStream) -> None:
        self.store = MongoStore("mongodb://127.0.0.1/livejobs")
        self.streams = list(streams)
        self.resumed_from: list[Any] = []
        self.indexes_made = 0
        self.store._watch_changes = self._open  # type: ignore[method-assign]
        self.store._create_indexes = self._indexes  # type: ignore[method-assign]
        self.watcher = self.store.watch()

    async def _open(self, token: Any = None) -> ScriptedStream:
        self.resumed_from.append(token)
        return self.streams.pop(0)

    async def _indexes(self) -> None:
        self.indexes_made += 1

    async def changes(self, n: int) -> list[str]:
        """The first ``n`` changes published: job ids, or "reset"."""
        task = asyncio.create_task(self.store._follow(self.streams.pop(0)))
        try:
            changes = [await asyncio.wait_for(anext(self.watcher), 5) for _ in range(n)]
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return [c.op if c.op == "reset" else c.id for c in changes]


async def test_a_dropped_connection_resumes_from_the_streams_own_token_without_a_reset() -> None:
    first = ScriptedStream({"t": 0}, [insert(1)], AutoReconnect("gone"))
    harness = Harness(first, ScriptedStream(None, [insert(2)], None))
    assert await harness.changes(2) == ["j1", "j2"]
    assert harness.resumed_from == [{"idle": {"t": 1}}]  # where MongoDB had got to
    assert first.closed


async def test_history_lost_starts_afresh_and_resets_once_the_new_stream_is_open() -> None:
    harness = Harness(
        ScriptedStream({"t": 0}, [insert(1)], HISTORY_LOST),
        ScriptedStream({"t": 5}, [insert(6)], None),
    )
    assert await harness.changes(3) == ["j1", "reset", "j6"]
    assert harness.resumed_from == [None]


async def test_a_fresh_stream_that_fails_before_any_event_resumes_from_its_start() -> None:
    """After a reset, the fresh stream's own token (its start) is where the next one resumes:
    nothing between the two is lost, and no second reset is needed."""
    harness = Harness(
        ScriptedStream({"t": 0}, [], HISTORY_LOST),
        ScriptedStream({"start": 1}, [], AutoReconnect("gone")),
        ScriptedStream(None, [insert(2)], None),
    )
    assert await harness.changes(2) == ["reset", "j2"]
    assert harness.resumed_from == [None, {"idle": {"start": 1}}]


async def test_with_no_token_to_resume_from_the_next_stream_is_announced_by_a_reset() -> None:
    harness = Harness(
        ScriptedStream({"t": 0}, [], HISTORY_LOST),
        ScriptedStream(None, [], AutoReconnect("gone"), advances=False),
        ScriptedStream(None, [insert(3)], None),
    )
    assert await harness.changes(3) == ["reset", "reset", "j3"]
    assert harness.resumed_from == [None, None]


async def test_an_event_that_cannot_be_read_resets_watchers_and_the_feed_goes_on() -> None:
    unreadable = {**insert(1), "fullDocument": {"no_id": True}}
    harness = Harness(
        ScriptedStream({"t": 0}, [unreadable], None),
        ScriptedStream(None, [insert(2)], None),
    )
    assert await harness.changes(2) == ["reset", "j2"]
    assert harness.resumed_from == [{"t": 1}]  # just after the unreadable event


async def test_dropping_the_jobs_collection_resets_watchers_and_restores_the_indexes() -> None:
    drop = {"_id": {"t": 2}, "operationType": "drop", "ns": {"db": "livejobs", "coll": "jobs"}}
    harness = Harness(
        ScriptedStream({"t": 0}, [insert(1), drop], None),
        ScriptedStream({"t": 3}, [insert(4)], None),
    )
    assert await harness.changes(3) == ["j1", "reset", "j4"]
    assert harness.resumed_from == [None]
    assert harness.indexes_made == 1
