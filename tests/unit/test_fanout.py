"""The feed router: every job change reaches the subscriptions, the dispatcher and the timer,
then the listeners; a record change reaches the handler of its kind; a listener's bug never
stops the feed."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from livejobs.jobs.flow import KIND as FLOW_RULES
from livejobs.runtime.fanout import Fanout
from livejobs.session import Session
from livejobs.store.base import Change


class Batches:
    def __init__(self, *batches: list[Change]) -> None:
        self.batches = list(batches)

    async def batch(self) -> list[Change]:
        return self.batches.pop(0) if self.batches else []  # empty: the feed ended


class Reader:
    def __init__(self, name: str, seen: list[tuple[str, str]]) -> None:
        self.name, self.seen = name, seen

    def on_change(self, change: Change) -> None:
        self.seen.append((self.name, change.id))

    def type_changed(self, job_type: str) -> None:
        self.seen.append((f"{self.name}.type_changed", job_type))


class Flow:
    def __init__(self, seen: list[tuple[str, str]]) -> None:
        self.seen = seen

    async def reload(self, job_type: str) -> None:
        self.seen.append(("flow.reload", job_type))

    async def describe(self) -> list[dict[str, Any]]:
        return [{"type": "email", "paused": True}]


def fanout(changes: Batches, seen: list[tuple[str, str]], sessions: list[Session]) -> Fanout:
    return Fanout(
        changes,
        Flow(seen),  # type: ignore[arg-type]
        Reader("dispatcher", seen),  # type: ignore[arg-type]
        Reader("subscriptions", seen),  # type: ignore[arg-type]
        Reader("scheduler", seen),  # type: ignore[arg-type]
        sessions,
    )


def job(job_id: str) -> Change:
    return Change("insert", job_id, {"id": job_id, "type": "t", "status": "ready"})


async def test_a_job_change_reaches_every_reader_in_order() -> None:
    seen: list[tuple[str, str]] = []
    router = fanout(Batches([job("j1")], [job("j2")]), seen, [])
    router.listeners.append(lambda change: seen.append(("metrics", change.id)))
    await router.run()
    readers = ["subscriptions", "dispatcher", "scheduler", "metrics"]
    assert seen == [(r, "j1") for r in readers] + [(r, "j2") for r in readers]


async def test_a_record_change_goes_to_the_handler_of_its_kind() -> None:
    seen: list[tuple[str, str]] = []
    watching, other = Session(), Session()
    watching.watching_types = True
    changes = [
        Change("record", f"{FLOW_RULES}/email", None),
        Change("record", "tokens/abc", None),
        Change("record", "unknown/x", None),  # no handler: ignored
    ]
    router = fanout(Batches(changes), seen, [watching, other])

    async def tokens(record_id: str) -> None:
        seen.append(("tokens", record_id))

    router.records["tokens"] = tokens
    await router.run()
    assert seen == [
        ("flow.reload", "email"),
        ("dispatcher.type_changed", "email"),
        ("tokens", "abc"),
    ]
    assert watching.queued == 1 and other.queued == 0  # the types list, to its watcher only


async def test_a_failing_listener_is_logged_and_the_feed_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, str]] = []
    router = fanout(Batches([job("j1"), job("j2")]), seen, [])

    def broken(change: Change) -> None:
        raise RuntimeError("a bug")

    router.listeners += [broken, lambda change: seen.append(("after", change.id))]
    with caplog.at_level(logging.ERROR, "livejobs"):
        await router.run()
    assert [s for s in seen if s[0] == "after"] == [("after", "j1"), ("after", "j2")]
    assert sum("feed listener" in r.getMessage() for r in caplog.records) == 2
