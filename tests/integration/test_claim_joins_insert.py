"""A job created while a worker waits for work is claimed in the same SQLite commit as its
insert: the worker gets it as its creator gets the answer, one commit sooner than a claim made
when the change feed shows the job. The feed showing the job ready afterwards starts no second
claim (the first one saw it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from livejobs.clock import Clock
from livejobs.runtime.connection import Worker
from livejobs.runtime.dispatch import Dispatcher
from livejobs.service import JobService, NewJob
from livejobs.session import Session
from livejobs.store.sqlite import SQLiteStore
from livejobs.store.sqlite import ops as sqlite_ops

JOB_OPERATIONS = {"insert", "claim", "replace", "delete"}


class Rig:
    """A store, a service and a dispatcher wired as the app wires them, a feed loop, and what
    happened: the job operations of every batch, every claim's size, every job the feed showed."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.service = JobService(store, Clock(), retain=None, lease=30.0, max_data=1 << 20)
        self.dispatcher = Dispatcher(self.service)
        assert store.ordered_writes
        self.service.inserting.append(self.dispatcher.announce)
        self.batches: list[list[str]] = []
        self.claimed: list[int] = []
        self.shown: list[tuple[str, str]] = []
        self._tick = asyncio.Event()
        claim = self.service.claim

        async def counted_claim(*args: Any, **kwargs: Any) -> Any:
            jobs = await claim(*args, **kwargs)
            self.claimed.append(len(jobs))
            self._tick.set()
            return jobs

        self.service.claim = counted_claim  # type: ignore[method-assign]
        self.dispatcher.on_dispatch.append(lambda job, worker: self._tick.set())

    async def feed(self) -> None:
        async for change in self.store.watch():
            self.dispatcher.on_change(change)
            if change.doc is not None:
                self.shown.append((change.id, change.doc["status"]))
            self._tick.set()

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            self._tick.clear()
            await asyncio.wait_for(self._tick.wait(), 5)


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    run_batch = sqlite_ops.run_batch

    def recorded(conn: Any, work: list[tuple[Any, Any, bool]]) -> Any:
        names = [fn.__name__ for fn, _, _ in work if fn.__name__ in JOB_OPERATIONS]
        rig.batches.append(names)
        return run_batch(conn, work)

    monkeypatch.setattr(sqlite_ops, "run_batch", recorded)
    store = SQLiteStore(str(tmp_path / "jobs.db"))
    await store.open()
    rig = Rig(store)
    tasks = [asyncio.create_task(rig.feed()), asyncio.create_task(rig.dispatcher.run())]
    try:
        yield rig
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()


def idle_worker(job_type: str) -> Worker:
    """Four slots, claimed two at a time: a claim that finds one job comes back short, and the
    worker waits for news of another (a full claim is followed by another one)."""
    session = Session()
    session.state = session.state.AUTHENTICATED
    return Worker(session, "w1", "ann", (job_type,), 4, None, 0.0)


async def test_a_job_for_a_waiting_worker_is_claimed_in_its_inserts_commit(rig: Rig) -> None:
    worker = idle_worker("email")
    rig.dispatcher.add(worker)
    await rig.until(lambda: rig.claimed == [0])  # nothing to do yet: the worker waits
    rig.batches.clear()

    job = await rig.service.create(NewJob(type="email", data={"to": "bo"}), "ann")
    await rig.until(lambda: job["id"] in worker.running)

    assert rig.batches == [["insert", "claim"]]
    assert rig.claimed == [0, 1]
    assert len(worker.session._outbox) == 1  # pushed to the worker


async def test_the_feed_showing_the_job_ready_starts_no_second_claim(rig: Rig) -> None:
    worker = idle_worker("email")
    rig.dispatcher.add(worker)
    await rig.until(lambda: rig.claimed == [0])
    rig.batches.clear()

    job = await rig.service.create(NewJob(type="email"), "ann")
    await rig.until(lambda: (job["id"], "running") in rig.shown)
    # a job no worker takes, as a marker: once the feed shows it, any claim the feed's news of
    # the first job started would have run before it
    marker = await rig.service.create(NewJob(type="report"), "ann")
    await rig.until(lambda: (marker["id"], "ready") in rig.shown)

    assert (job["id"], "ready") in rig.shown  # the feed did show it ready
    assert rig.batches == [["insert", "claim"], ["insert"]]
    assert rig.claimed == [0, 1]
    # the news of the insert, older than the claim, did not take the job from the worker
    assert list(worker.running) == [job["id"]]


async def test_a_worker_still_gets_a_job_made_ready_later(rig: Rig) -> None:
    """Jobs that become ready after their insert (here: delayed, then made ready by hand) are
    counted when the feed shows them, as before."""
    worker = idle_worker("email")
    rig.dispatcher.add(worker)
    await rig.until(lambda: rig.claimed == [0])

    job = await rig.service.create(NewJob(type="email", delay=3600), "ann")
    assert job["status"] == "waiting"
    await rig.service.control("ready", job["id"], "ann", job)
    await rig.until(lambda: job["id"] in worker.running)
    assert rig.claimed == [0, 1]
