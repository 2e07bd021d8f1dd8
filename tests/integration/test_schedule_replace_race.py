"""Saving a repeating job under the key of an unfinished one replaces its schedule, even when
that job finishes between the save finding it and the save changing it: the new schedule then
goes to the next run (or starts anew), instead of being dropped while the save answered as if
it had been kept."""

from __future__ import annotations

from typing import Any

from livejobs.clock import ManualClock
from livejobs.errors import Unavailable
from livejobs.jobs.model import Job
from livejobs.service import JobService, NewJob

from .conftest import Backend

OLD, NEW = {"every": 3600}, {"every": 60}


async def _service_finishing_during_saves(backend: Backend) -> JobService:
    """A service whose next insert that meets a running job finds it, then lets that job
    complete before the save goes on (the race, made certain)."""
    service = JobService(
        await backend.open(), ManualClock(), retain=None, lease=30.0, max_data=1 << 20
    )
    insert = service._insert

    async def insert_then_finish(docs: list[Job], *args: Any) -> list[Job]:
        stored = await insert(docs, *args)
        for doc, found in zip(docs, stored, strict=True):
            if found["id"] != doc["id"] and found["status"] == "running":
                await service.done(found["id"], found["lease"]["token"], None, "w")
        return stored

    service._insert = insert_then_finish  # type: ignore[method-assign]
    return service


async def _pay_what_the_finish_owes(service: JobService) -> None:
    """Its next run, as another server's timer would make it (a key it meets is held)."""
    [finished] = await service.find({"status": "completed"}, (), limit=1, skip=0)
    assert finished["followups"] is None  # the finishing server paid: its next run met the key
    finished["followups"] = {"next": "0" * 32, "at": 0.0}
    await service._pay_followups(finished)


async def _schedules(service: JobService) -> list[tuple[str, float]]:
    jobs = await service.find({"type": "report"}, (("created", 1),), limit=10, skip=0)
    return [(job["status"], job["repeat"]["every"]) for job in jobs]


async def test_a_schedule_saved_as_its_run_finishes_is_kept(backend: Backend) -> None:
    service = await _service_finishing_during_saves(backend)
    await service.create(NewJob(type="report", key="daily", repeat=OLD), "u")
    await service.claim(["report"], "w", "u", 1)
    save = NewJob(type="report", key="daily", repeat=NEW)
    saved = await service.create(save, "u", "save-1")
    assert saved["status"] == "ready" and saved["repeat"]["every"] == 60  # as any new save
    assert await _schedules(service) == [("completed", 3600), ("ready", 60)]
    assert (await service.create(save, "u", "save-1"))["id"] == saved["id"]  # a retry
    await _pay_what_the_finish_owes(service)
    assert await _schedules(service) == [("completed", 3600), ("ready", 60)]


async def test_a_schedule_saved_in_a_batch_as_its_run_finishes_is_kept(backend: Backend) -> None:
    service = await _service_finishing_during_saves(backend)
    await service.create(NewJob(type="report", key="daily", repeat=OLD), "u")
    await service.claim(["report"], "w", "u", 1)
    saves = [NewJob(type="report", key="daily", repeat=NEW)]
    ids = await service.create_many(saves, "u", "saves-1")
    assert await _schedules(service) == [("completed", 3600), ("ready", 60)]
    assert (await service.get(ids[0]))["repeat"]["every"] == 60
    assert await service.create_many(saves, "u", "saves-1") == ids  # a retry


async def test_a_save_stands_when_its_answer_cannot_be_amended(backend: Backend) -> None:
    """The store failing as the answer of a retry is amended: the save was stored, so the
    create answers it (a retry then answers with the run the insert met)."""
    service = await _service_finishing_during_saves(backend)
    await service.create(NewJob(type="report", key="daily", repeat=OLD), "u")
    await service.claim(["report"], "w", "u", 1)

    async def unreachable(*args: Any) -> None:
        raise Unavailable("the store went away")

    service.store.amend_answer = unreachable  # type: ignore[method-assign]
    saved = await service.create(NewJob(type="report", key="daily", repeat=NEW), "u", "save-2")
    assert saved["repeat"]["every"] == 60
    assert await _schedules(service) == [("completed", 3600), ("ready", 60)]
