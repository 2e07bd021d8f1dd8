"""What a finish owes survives the server that owed it: a repeating job's next run, and the
release (or cancellation) of the jobs that wait for it, are recorded in the finishing write
itself, so that a server dying between that write and the follow-ups leaves them to the next
scheduler pass (on whichever server) instead of ending a schedule or stranding dependants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from livejobs.clock import ManualClock
from livejobs.errors import Unavailable
from livejobs.jobs.model import Job
from livejobs.service import JobService, NewJob
from livejobs.store.base import Store

from .conftest import Backend

Setup = Callable[[JobService], Awaitable[dict[str, Job]]]


class Died(Unavailable):
    """The server died at this point: nothing after it ran."""


def service_on(store: Store, clock: ManualClock) -> JobService:
    return JobService(store, clock, retain=None, lease=30.0, max_data=1 << 20)


async def finish_and_die(
    backend: Backend, clock: ManualClock, job_type: str, setup: Setup
) -> dict[str, Job]:
    """Run ``setup``, then complete one ``job_type`` job on a server whose store dies right
    after the completion's write; return ``setup``'s jobs."""
    store = await backend.open()
    service = service_on(store, clock)
    jobs = await setup(service)
    [running] = await service.claim([job_type], "w", "u", 1)
    replace = store.replace

    async def replace_then_die(doc: Job, *args: Any, **kwargs: Any) -> bool:
        written = await replace(doc, *args, **kwargs)
        if doc["status"] == "completed":
            store.insert = store.get_many = _dead  # type: ignore[method-assign]
        return written

    store.replace = replace_then_die  # type: ignore[method-assign]
    # the completion is stored: the worker is told so, and what it owes waits for a timer
    await service.done(running["id"], running["lease"]["token"], "ok", "w")
    await store.close()
    return dict(jobs)


async def _dead(*args: Any, **kwargs: Any) -> Any:
    raise Died("the server died")


async def scheduler_pass(service: JobService, clock: ManualClock) -> None:
    for doc in await service.store.due(clock.now(), 500):
        await service.on_due(doc)


async def test_a_repeating_job_runs_again_after_its_server_died(backend: Backend) -> None:
    clock = ManualClock()

    async def setup(service: JobService) -> dict[str, Job]:
        job = await service.create(NewJob(type="nightly", repeat={"every": 3600}), "u")
        return {"first": job}

    jobs = await finish_and_die(backend, clock, "nightly", setup)
    survivor = service_on(await backend.open(), clock)
    owed = (await survivor.get(jobs["first"]["id"]))["followups"]
    assert owed["next"] and owed["at"] == clock.now() + 30  # stored with the completion
    clock.advance(60)
    await scheduler_pass(survivor, clock)
    runs = await survivor.find({"type": "nightly"}, (("created", 1),), limit=10, skip=0)
    assert [r["status"] for r in runs] == ["completed", "waiting"]
    assert runs[0]["id"] == jobs["first"]["id"] and runs[1]["repeat"]["run"] == 2
    assert runs[0]["followups"] is None  # the debt is paid: a later pass adds nothing
    await scheduler_pass(survivor, clock)
    assert len(await survivor.find({"type": "nightly"}, (), limit=10, skip=0)) == 2


async def test_dependants_are_released_after_the_server_died(backend: Backend) -> None:
    clock = ManualClock()

    async def setup(service: JobService) -> dict[str, Job]:
        first = await service.create(NewJob(type="extract"), "u")
        then = await service.create(NewJob(type="load", depends=[first["id"]]), "u")
        return {"first": first, "then": then}

    jobs = await finish_and_die(backend, clock, "extract", setup)
    survivor = service_on(await backend.open(), clock)
    assert (await survivor.get(jobs["then"]["id"]))["status"] == "waiting"
    clock.advance(60)
    await scheduler_pass(survivor, clock)
    released = await survivor.get(jobs["then"]["id"])
    assert released["status"] == "ready" and released["results"] == {jobs["first"]["id"]: "ok"}


async def test_a_finish_that_owes_nothing_writes_once(backend: Backend) -> None:
    """A job with neither a repeat nor dependants finishes in one write, as before."""
    store = await backend.open()
    service = service_on(store, ManualClock())
    job = await service.create(NewJob(type="plain"), "u")
    [running] = await service.claim(["plain"], "w", "u", 1)
    await service.done(job["id"], running["lease"]["token"], None, "w")
    done = await service.get(job["id"])
    assert done["version"] == running["version"] + 1 and done["followups"] is None
