"""The dispatcher fills a worker's slots half at a time, so that a busy worker runs one half
while the server commits and refills the other (one claim for every free slot made them take
turns)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from livejobs.jobs.rules import TypeRules
from livejobs.runtime.connection import Worker
from livejobs.runtime.dispatch import Dispatcher
from livejobs.session import Session
from livejobs.store.base import Change


class FakeFlow:
    async def note_short(self, types: Any, now: float) -> None:
        pass

    def rules(self, job_type: str) -> TypeRules:
        return TypeRules()


class FakeClock:
    def now(self) -> float:
        return 0.0


class ClaimRecorder:
    """Stands in for ``JobService``: every claim gets what it asks for, up to ``ready``."""

    def __init__(self, ready: int) -> None:
        self.ready = ready
        self.limits: list[int] = []
        self.claimed = asyncio.Event()
        self.flow = FakeFlow()
        self.clock = FakeClock()
        self._ids = itertools.count()

    async def claim(
        self, types: list[str], worker_id: str, user: str, limit: int, lease: float | None
    ) -> list[dict[str, Any]]:
        self.limits.append(limit)
        taken = min(limit, self.ready)
        self.ready -= taken
        if self.ready == 0:
            self.claimed.set()
        return [self._job(types[0]) for _ in range(taken)]

    def _job(self, job_type: str) -> dict[str, Any]:
        n = next(self._ids)
        lease = {"token": f"t{n}"}
        return {"id": f"j{n}", "type": job_type, "status": "running", "version": 2, "lease": lease}


def worker(concurrency: int, prefetch: int) -> Worker:
    session = Session()
    session.state = session.state.AUTHENTICATED
    return Worker(session, "w1", "u", ("t",), concurrency, None, 0.0, prefetch=prefetch)


async def dispatched(service: ClaimRecorder, *workers: Worker) -> Dispatcher:
    """A dispatcher run until the service has handed out every ready job."""
    dispatcher = Dispatcher(service)  # type: ignore[arg-type]
    for w in workers:
        dispatcher.add(w)
    running = asyncio.create_task(dispatcher.run())
    try:
        await asyncio.wait_for(service.claimed.wait(), 5)
    finally:
        running.cancel()
    return dispatcher


async def fed(service: ClaimRecorder, *workers: Worker) -> list[int]:
    await dispatched(service, *workers)
    return service.limits


async def test_a_worker_is_filled_in_two_halves() -> None:
    service = ClaimRecorder(ready=20)
    w = worker(concurrency=10, prefetch=10)
    assert await fed(service, w) == [10, 10]
    assert len(w.running) == 20
    assert len(w.session._outbox) == 20  # every claimed job was pushed


async def test_an_odd_number_of_slots_takes_the_larger_half_first() -> None:
    service = ClaimRecorder(ready=5)
    w = worker(concurrency=3, prefetch=2)
    assert await fed(service, w) == [3, 2]
    assert len(w.running) == 5


async def test_a_single_slot_is_claimed_alone() -> None:
    service = ClaimRecorder(ready=1)
    w = worker(concurrency=1, prefetch=0)
    assert await fed(service, w) == [1]
    assert len(w.running) == 1


async def test_news_older_than_the_claim_leaves_the_job_with_its_worker() -> None:
    """The feed may show a job's earlier state after the claim that took it returned: its
    insert, committed with the claim, or a change stream event delivered late. Only news newer
    than the claim frees the worker's slot."""
    service = ClaimRecorder(ready=1)
    w = worker(concurrency=2, prefetch=0)
    dispatcher = await dispatched(service, w)
    claimed = dict(service._job("t"), id="j0", lease={"token": "t0"})

    dispatcher.on_change(Change("insert", "j0", dict(claimed, status="ready", version=1)))
    assert w.running == {"j0": "t0"}
    dispatcher.on_change(Change("update", "j0", claimed))
    assert w.running == {"j0": "t0"}
    dispatcher.on_change(Change("update", "j0", dict(claimed, status="completed", version=3)))
    assert w.running == {}
