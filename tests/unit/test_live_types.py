"""Live matching indexed by job type (``query.pinned``): a change is matched only against the
groups whose filters can match its type, with the same frames as if every filter were
evaluated, so that subscriptions to other types cost nothing per change."""

from __future__ import annotations

from typing import Any

import pytest

from livejobs import query
from livejobs.flusher import Flusher
from livejobs.query import matches, parse_filter, pinned
from livejobs.runtime import subscriptions as live
from livejobs.runtime.connection import Connection
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.store.base import Change
from tests.unit.test_live_groups import EmptyStore, received, settled

FILTERS: list[dict[str, Any]] = [
    {"type": "a"},
    {"type": {"$in": ["a", "b"]}},
    {"$or": [{"type": "b"}, {"type": "c", "status": "ready"}]},
    {},
    {"status": "ready"},
    {"$and": [{"type": "a"}, {"type": "b"}]},
    {"type": {"$ne": "a"}},
]


def doc(job_id: str, job_type: str, status: str, version: int) -> dict[str, Any]:
    return {"id": job_id, "type": job_type, "status": status, "version": version}


CHANGES = [
    Change("insert", "j1", doc("j1", "a", "ready", 1)),
    Change("insert", "j2", doc("j2", "b", "ready", 1)),
    Change("insert", "j3", doc("j3", "c", "ready", 1)),
    Change("update", "j1", doc("j1", "a", "running", 2)),
    Change("update", "j3", doc("j3", "c", "running", 2)),
    Change("delete", "j2"),
    Change("insert", "j4", doc("j4", "d", "ready", 1)),
]


def expected(filter: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every filter evaluated on every change: what a subscriber must receive."""
    held: set[str] = set()
    frames: list[tuple[str, str | None]] = [("ready", None)]
    for change in CHANGES:
        if change.doc is not None and matches(change.doc, filter):
            frames.append(("changed" if change.id in held else "added", change.id))
            held.add(change.id)
        elif change.id in held:
            held.discard(change.id)
            frames.append(("removed", None))
    return frames


@pytest.mark.parametrize(
    ("filter", "types"),
    [
        ({}, None),
        ({"type": "a"}, {"a"}),
        ({"type": {"$in": ["a", "b"]}, "status": "ready"}, {"a", "b"}),
        ({"type": {"$in": ["a", 1]}}, None),
        ({"type": {"$ne": "a"}}, None),
        ({"$and": [{"type": {"$in": ["a", "b"]}}, {"type": "b"}]}, {"b"}),
        ({"$or": [{"type": "a"}, {"type": "b"}]}, {"a", "b"}),
        ({"$or": [{"type": "a"}, {"status": "ready"}]}, None),
        ({"type": "a", "$or": [{"type": "b"}, {"type": "c"}]}, set()),
        ({"data.type": "a"}, None),
    ],
)
def test_the_types_a_filter_pins(filter, types):
    found = pinned(parse_filter(filter), "type")
    assert found == (None if types is None else frozenset(types))


async def test_each_subscriber_gets_what_evaluating_every_filter_would_give():
    flusher = Flusher()
    subscriptions = Subscriptions(EmptyStore(), flusher)  # type: ignore[arg-type]
    sessions = []
    for n, filter in enumerate(FILTERS):
        session = Connection(flusher=flusher)
        session.batch = True
        subscriptions.open(session, f"s{n}", parse_filter(filter), "admin")
        sessions.append(session)
    await settled(subscriptions)
    for change in CHANGES:
        subscriptions.on_change(change)
    for session, filter in zip(sessions, FILTERS, strict=True):
        session.close("test over")
        got = [(msg, None if msg == "removed" else id) for msg, id in await received(session)]
        assert got == expected(filter), filter


async def test_idle_subscriptions_to_other_types_are_not_evaluated(monkeypatch):
    flusher = Flusher()
    subscriptions = Subscriptions(EmptyStore(), flusher)  # type: ignore[arg-type]
    for n in range(1000):
        subscriptions.open(Connection(flusher=flusher), f"s{n}", {"type": f"idle-{n}"}, "admin")
    subscriptions.open(Connection(flusher=flusher), "busy", {"type": "busy"}, "admin")
    subscriptions.open(Connection(flusher=flusher), "all", {}, "admin")
    await settled(subscriptions)
    evaluated: list[dict[str, Any]] = []

    def counted(doc: dict[str, Any], filter: dict[str, Any]) -> bool:
        evaluated.append(filter)
        return query.matches(doc, filter)

    monkeypatch.setattr(live, "matches", counted)
    subscriptions.on_change(Change("insert", "j1", doc("j1", "busy", "ready", 1)))
    assert sorted(map(str, evaluated)) == ["{'type': 'busy'}", "{}"]
