"""Draining goes through the dispatcher (``Dispatcher.settle``): running jobs get the grace to
finish, and the dispatcher hands back those that did not, telling their workers to stop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from livejobs.errors import Conflict
from livejobs.runtime.connection import Worker
from livejobs.runtime.dispatch import Dispatcher
from livejobs.session import Session


class Snoozes:
    """Stands in for ``JobService``: records every hand-back; ``gone`` ones finished first."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.snoozed: list[tuple[str, str, float, str]] = []
        self.gone = gone or set()

    async def snooze(self, job_id: str, token: str, seconds: float, user: str) -> Any:
        if job_id in self.gone:
            raise Conflict(f"job {job_id} is not running")
        self.snoozed.append((job_id, token, seconds, user))


def holding(dispatcher: Dispatcher, *jobs: str) -> Worker:
    """A worker on an open session, holding ``jobs`` (leased to it with token ``t-<id>``)."""
    session = Session()
    session.state = session.state.AUTHENTICATED
    worker = Worker(session, "w1", "u", ("t",), len(jobs) or 1, None, 0.0)
    dispatcher.add(worker)
    for job_id in jobs:
        worker.running[job_id] = f"t-{job_id}"
        dispatcher._by_job[job_id] = worker
    return worker


def cancels(session: Session) -> list[str]:
    frames = [json.loads(f) for f in session._outbox if isinstance(f, str)]
    return [f["id"] for f in frames if f.get("msg") == "cancel"]


async def test_settle_returns_once_the_running_jobs_have_finished() -> None:
    service = Snoozes()
    dispatcher = Dispatcher(service)  # type: ignore[arg-type]
    worker = holding(dispatcher, "j1", "j2")
    settling = asyncio.create_task(dispatcher.settle(grace=60))
    await asyncio.sleep(0)
    assert dispatcher.draining and worker.stopped and not settling.done()
    dispatcher.finishing("j1", "t-j1")  # reported done
    dispatcher.finishing("j2", "t-j2")
    assert await asyncio.wait_for(settling, 5) == 0  # long before the grace ran out
    assert service.snoozed == [] and dispatcher.running == 0


async def test_settle_hands_back_what_is_still_running_after_the_grace() -> None:
    service = Snoozes(gone={"j3"})
    dispatcher = Dispatcher(service)  # type: ignore[arg-type]
    worker = holding(dispatcher, "j1", "j2", "j3")
    dispatcher.finishing("j1", "t-j1")
    assert dispatcher.running == 2
    assert await asyncio.wait_for(dispatcher.settle(grace=0.05), 5) == 1
    # without counting an attempt, by the server; j3 had finished meanwhile
    assert service.snoozed == [("j2", "t-j2", 0, "server")]
    assert cancels(worker.session) == ["j2", "j3"]  # its worker stops working on both


async def test_an_abort_cuts_the_grace_short() -> None:
    service = Snoozes()
    dispatcher = Dispatcher(service)  # type: ignore[arg-type]
    holding(dispatcher, "j1")
    handed = await asyncio.wait_for(dispatcher.settle(grace=60, abort=lambda: True), 5)
    assert handed == 1 and service.snoozed == [("j1", "t-j1", 0, "server")]
