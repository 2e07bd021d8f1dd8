"""With many workers connected, a report that frees one worker's slot is looked at for that
worker only: a server of 200 workers does the same work per job as a server of one (no scan
of every worker per report, no claim by workers that did not ask)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from livejobs.runtime.connection import Worker
from livejobs.runtime.dispatch import Dispatcher
from tests.unit.test_dispatch_claims import ClaimRecorder, worker

WORKERS = 200


class CountingDispatcher(Dispatcher):
    """Counts every worker the dispatcher asks about (``_hungry``)."""

    looks = 0

    def _hungry(self, worker: Worker) -> bool:
        self.looks += 1
        return super()._hungry(worker)


async def until(condition: Callable[[], bool]) -> None:
    """Let the dispatcher's task run until ``condition`` holds (no clock involved)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the dispatcher never got there")


async def test_a_report_is_looked_at_for_its_worker_only() -> None:
    service = ClaimRecorder(ready=WORKERS)
    dispatcher = CountingDispatcher(service)  # type: ignore[arg-type]
    workers = [worker(concurrency=1, prefetch=0) for _ in range(WORKERS)]
    for w in workers:
        dispatcher.add(w)
    running = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: all(len(w.running) == 1 for w in workers))  # each got its job
        claims, dispatcher.looks = len(service.limits), 0

        service.ready = 1
        service.claimed.clear()
        first = workers[0]
        ((job_id, token),) = first.running.items()
        dispatcher.finishing(job_id, token)  # its holder reports it done
        await until(lambda: len(first.running) == 1 and not dispatcher._candidates)

        assert dispatcher.looks == 1
        assert len(service.limits) == claims + 1  # one claim, by the worker that freed a slot
        assert len(first.running) == 1
    finally:
        running.cancel()


async def test_a_new_ready_job_wakes_the_workers_of_its_type() -> None:
    service = ClaimRecorder(ready=0)
    dispatcher = Dispatcher(service)  # type: ignore[arg-type]
    idle = worker(concurrency=1, prefetch=0)
    other: Any = Worker(idle.session, "w2", "u", ("other",), 1, None, 0.0)
    dispatcher.add(idle)
    dispatcher.add(other)
    running = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: len(service.limits) == 2)  # both looked and came back short
        service.ready = 1
        dispatcher.announce([{"id": "new", "type": "t", "status": "ready"}])
        await until(lambda: len(idle.running) == 1 and not dispatcher._candidates)
        assert service.limits == [1, 1, 1]  # only the worker of type "t" claimed again
    finally:
        running.cancel()
