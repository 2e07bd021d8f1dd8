"""Python ``logging`` inside a handler knows its job: ``current_job()``, a filter that puts
``job_id`` and ``job_type`` on every record, and a handler that copies records into the job's
own log (what the dashboard and ``livejobs jobs show`` print).

>>> logging.getLogger("myapp").addHandler(JobLogHandler())  # records in a job join its log
>>> logging.getLogger().handlers[0].addFilter(JobContext())  # "%(job_id)s" in any format

The job is a context variable set for the handler's task (and copied into the thread a plain
handler runs in), so nothing is passed around and code outside a job is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livejobs_sdk.errors import LivejobsError
from livejobs_sdk.job import WorkerJob


class _Running:
    """The job a task (or its thread) runs for, and its log lines still on their way."""

    __slots__ = ("job", "loop", "sends")

    def __init__(self, job: WorkerJob, loop: asyncio.AbstractEventLoop) -> None:
        self.job, self.loop = job, loop
        self.sends: list[asyncio.Future[None]] = []


_current: contextvars.ContextVar[_Running | None]
_current = contextvars.ContextVar("livejobs_job", default=None)

#: Python's levels as the job log's (info, success, warning, danger)
LEVELS = {logging.WARNING: "warning", logging.ERROR: "danger", logging.CRITICAL: "danger"}


def current_job() -> WorkerJob | None:
    """The job this code runs for, or ``None`` outside a handler."""
    running = _current.get()
    return None if running is None else running.job


def in_job_context(
    handler: Callable[[WorkerJob], Awaitable[Any]],
) -> Callable[[WorkerJob], Awaitable[Any]]:
    """``handler`` with ``current_job()`` set while it runs (each job runs in a task of its
    own, so setting the variable there touches no other job). The job's log lines are sent
    before the handler's result, which ends the lease that lets them in."""

    async def run(job: WorkerJob) -> Any:
        running = _Running(job, asyncio.get_running_loop())
        _current.set(running)
        try:
            return await handler(job)
        finally:
            if running.sends:
                await asyncio.wait(running.sends)

    return run


class JobContext(logging.Filter):
    """Adds ``job_id`` and ``job_type`` to every record (``None`` outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = current_job()
        record.job_id = None if job is None else job.id
        record.job_type = None if job is None else job.type
        return True


class JobLogHandler(logging.Handler):
    """Copies records made inside a job into that job's log (``jobs.log``), without blocking
    the caller; records outside a job, and the SDK's own, are left alone. Best effort: a line
    sent after the job finished is refused by the server and dropped."""

    def emit(self, record: logging.LogRecord) -> None:
        running = _current.get()
        if running is None or record.name.startswith("livejobs."):
            return
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        level = LEVELS.get(record.levelno, "info")

        def start() -> None:  # on the job's loop
            running.sends.append(running.loop.create_task(_send(running.job, message, level)))

        try:
            on_loop = asyncio.get_running_loop() is running.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            start()
        else:  # a plain handler's thread: scheduled before its result
            with contextlib.suppress(RuntimeError):  # the loop closed: nowhere to send it
                running.loop.call_soon_threadsafe(start)


async def _send(job: WorkerJob, message: str, level: str) -> None:
    try:
        await job.log(message, level)
    except (LivejobsError, TimeoutError):
        pass  # the job finished or the connection dropped: the line has nowhere to go
