"""Typed tasks as an application writes them: served by ``livejobs worker
tests.workers.typed_tasks`` in the tests, enqueued through ``app``."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from livejobs_sdk import SyncWorkerJob, Tasks, WorkerJob

app = Tasks()  # LIVEJOBS_URL / LIVEJOBS_TOKEN, or a client bound with app.use(...)


@dataclass
class Receipt:
    to: str
    subject: str
    sent: datetime
    thread: str


@app.task(
    name="emails.send",
    retries=2,
    priority="high",
    time_limit=60,
    retain=3600,
    keep={"completed": 100},
)
def send_email(to: str, subject: str = "(none)", cc: list[str] | None = None) -> Receipt:
    """A plain function: the worker runs it in a thread."""
    return Receipt(to, subject, datetime.now(UTC), threading.current_thread().name)


@app.task
async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@app.task(name="reports.build")
def build_report(pages: int, job: SyncWorkerJob) -> str:
    """A parameter annotated with the job type gets the running job (not an argument)."""
    for page in range(pages):
        job.progress(page + 1, pages)
    return f"{pages} pages"


@app.task(name="reports.log")
async def log_it(message: str, job: WorkerJob) -> None:
    await job.log(message)
