"""``process_jobs``: run a handler on every job the server pushes, ``concurrency`` at a time.

The server pushes at most ``concurrency`` jobs to this worker (plus ``prefetch``, which wait
here for a free handler so that the next job is at hand when one finishes; off by default, as a
prefetched job is not available to other workers). While a job is held, the lease is renewed
(heartbeat); the handler's return value completes the job, an exception fails it (retried per
the job's policy), ``Fatal`` fails it for good, ``Snooze`` puts it back without counting the
attempt. Cancelling the job cancels the handler's task. If the socket drops, the server takes
the jobs back (they are retried), so running handlers are cancelled here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from worker_sdk.connection import Connection, Frame
from worker_sdk.errors import Fatal, LivejobsError, Snooze
from worker_sdk.job import WorkerJob

log = logging.getLogger("livejobs.worker")

Handler = Callable[[WorkerJob], Awaitable[Any]]


class Worker:
    def __init__(
        self,
        conn: Connection,
        types: Iterable[str],
        handler: Handler,
        *,
        concurrency: int = 1,
        prefetch: int = 0,
        worker_id: str | None = None,
        lease: float | None = None,
    ) -> None:
        self.conn = conn
        self.prefetch = prefetch
        self._handlers = asyncio.Semaphore(concurrency)
        self.types = [types] if isinstance(types, str) else list(types)
        self.handler = handler
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.lease = lease
        self.running: dict[str, tuple[asyncio.Task[None], WorkerJob]] = {}
        self.completed = 0
        self._stopping = asyncio.Event()

    async def _register(self) -> None:
        params: dict[str, Any] = {"types": self.types, "concurrency": self.concurrency}
        if self.prefetch:
            params["prefetch"] = self.prefetch
        if self.worker_id:
            params["worker_id"] = self.worker_id
        if self.lease:
            params["lease"] = self.lease
        self.worker_id = (await self.conn.call("worker.start", params))["worker_id"]

    def _on_job(self, frame: Frame) -> None:
        job = WorkerJob(self.conn, frame["job"])
        task = asyncio.create_task(self._run(job), name=f"livejobs-job-{job.id}")
        self.running[job.id] = (task, job)

        def forget(_: asyncio.Task[None], job_id: str = job.id) -> None:
            self.running.pop(job_id, None)

        task.add_done_callback(forget)

    def _on_cancel(self, frame: Frame) -> None:
        entry = self.running.get(frame["id"])
        if entry is not None:
            task, job = entry
            job.cancelled.set()
            job.reported = True  # the server already knows: nothing to report
            task.cancel()

    def _on_disconnect(self) -> None:
        for task, job in list(self.running.values()):
            job.reported = True  # the lease died with the socket
            task.cancel()

    async def run(self) -> None:
        """Work until ``stop()`` (running handlers finish) or cancellation (running jobs are
        handed back to the server without counting an attempt)."""
        self.conn.on_push["job"] = self._on_job
        self.conn.on_push["cancel"] = self._on_cancel
        self.conn.on_reconnect.append(self._register)
        self.conn.on_disconnect.append(self._on_disconnect)
        try:
            await self._register()
            await self._stopping.wait()
            await self._stop_taking()
            tasks = [task for task, _ in self.running.values()]
            if tasks:  # wait, not gather: a cancel here must leave the jobs to _hand_back
                await asyncio.wait(tasks)
        except asyncio.CancelledError:
            await self._hand_back()
            raise
        finally:
            self.conn.on_reconnect.remove(self._register)
            self.conn.on_disconnect.remove(self._on_disconnect)

    def stop(self) -> None:
        """Graceful: take no more jobs, let running handlers finish, then ``run()`` returns."""
        self._stopping.set()

    async def _stop_taking(self) -> None:
        with contextlib.suppress(LivejobsError, asyncio.TimeoutError):
            if self.conn.connected:
                await self.conn.call("worker.stop", {}, timeout=5)

    async def _hand_back(self) -> None:
        await self._stop_taking()
        entries = list(self.running.values())
        for task, job in entries:
            job.reported = True
            task.cancel()
        for _, job in entries:
            with contextlib.suppress(LivejobsError, asyncio.TimeoutError):
                await self.conn.call(
                    "jobs.snooze", {"id": job.id, "lease": job.lease_token, "seconds": 0}, timeout=5
                )

    async def _run(self, job: WorkerJob) -> None:
        beat = asyncio.create_task(self._heartbeat(job))
        try:
            async with self._handlers:  # prefetched jobs wait here, their leases kept alive
                result = await self.handler(job)
        except asyncio.CancelledError:
            if job.reported:  # cancelled by the server, or handed back: nothing to report
                return
            raise
        except Fatal as exc:
            await self._report(job, "jobs.fail", error=_error(exc), fatal=True)
        except Snooze as exc:
            await self._report(job, "jobs.snooze", seconds=exc.seconds)
        except Exception as exc:
            await self._report(job, "jobs.fail", error=_error(exc), fatal=False)
        else:
            await self._report(job, "jobs.done", result=result)
        finally:
            beat.cancel()
            self.completed += 1

    async def _report(self, job: WorkerJob, method: str, **params: Any) -> None:
        if job.reported:
            return
        job.reported = True
        try:
            await self.conn.call(method, {"id": job.id, "lease": job.lease_token, **params})
        except LivejobsError as exc:
            log.warning("could not report %s for job %s: %s", method, job.id, exc)

    async def _heartbeat(self, job: WorkerJob) -> None:
        period = max((job.doc["lease"]["expires"] - job.doc["started"]) / 3, 0.2)
        while True:
            await asyncio.sleep(period)
            try:
                await job.heartbeat()
            except LivejobsError as exc:
                log.warning("heartbeat for job %s failed: %s", job.id, exc)


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "message": str(exc) or type(exc).__name__,
        "type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }
