"""A handler's own ``logging`` calls know their job: ``job_id`` on the records, and the lines
in the job's log when a ``JobLogHandler`` is installed; code outside a job is unaffected."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from livejobs_sdk import JobContext, JobLogHandler, SyncClient, Tasks, current_job
from tests.helpers import running_worker, wait_status

app_log = logging.getLogger("app.jobs")


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(JobContext())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture, to_job = Captured(), JobLogHandler()
    app_log.addHandler(capture)
    app_log.addHandler(to_job)
    app_log.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        app_log.removeHandler(capture)
        app_log.removeHandler(to_job)


def lines(doc: dict) -> list[tuple[str, str]]:
    return [(e["level"], e["message"]) for e in doc["log"] if e.get("kind", "log") == "log"]


async def test_an_async_handlers_logging_lands_in_its_job(server, captured):
    async def handler(job):
        assert current_job() is job
        app_log.info("resizing %s", job.data["path"])
        app_log.warning("slow disk")
        return "ok"

    async with server.client() as client:
        async with running_worker(client, "resize", handler):
            job = await client.job("resize", {"path": "a.png"}).save()
            doc = await wait_status(client, job.id, "completed")
    app_log.info("outside any job")
    assert ("info", "resizing a.png") in lines(doc) and ("warning", "slow disk") in lines(doc)
    assert [(r.job_id, r.job_type) for r in captured.records] == [
        (job.id, "resize"),
        (job.id, "resize"),
        (None, None),
    ]
    assert current_job() is None


def test_a_plain_handlers_logging_in_its_thread_lands_in_its_job(sync_server, captured):
    def handler(job):
        assert current_job() is not None and current_job().id == job.id
        app_log.error("could not parse row %d", 7)
        return "done"

    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        with client.worker("parse", handler, concurrency=2):
            job = client.job("parse", None).save()
            assert job.result(timeout=10) == "done"
        doc = client.get_job(job.id)
    assert ("danger", "could not parse row 7") in lines(doc)
    assert captured.records[0].job_id == job.id


def test_a_typed_tasks_logging_in_its_thread_lands_in_its_job(sync_server, captured):
    """A plain function as a typed task runs in ``asyncio.to_thread``: the job goes along."""
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        app = Tasks(client=client)

        @app.task(name="logs.parse")
        def parse(row: int) -> str:
            app_log.warning("row %d looks odd", row)
            return "ok"

        with app.worker():
            job = parse.enqueue(7)
            assert job.result(timeout=10) == "ok"
        doc = client.get_job(job.id)
    assert ("warning", "row 7 looks odd") in lines(doc)
    assert [(r.job_id, r.job_type) for r in captured.records] == [(job.id, "logs.parse")]
