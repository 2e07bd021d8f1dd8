"""``process_jobs``: run a handler on every job the server pushes, ``concurrency`` at a time.

The server pushes at most ``concurrency`` jobs to this worker (plus ``prefetch``, which wait
here for a free handler so that the next job is at hand when one finishes; off by default, as a
prefetched job is not available to other workers). While a job is held, the lease is renewed
(heartbeat); the handler's return value completes the job, an exception fails it (retried per
the job's policy), ``Fatal`` fails it for good, ``Snooze`` puts it back without counting the
attempt. Cancelling the job cancels the handler's task. If the socket drops, the server takes
the jobs back (they are retried), so running handlers are cancelled here too.

``payload=N`` hands the handler a list of up to N jobs (``livejobs_sdk.cargo``); ``on_success``
and ``on_failure`` are called after each job's report; ``pause()`` stops the server pushing
more work to this worker until ``resume()``, while running jobs go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from livejobs_sdk import tracing
from livejobs_sdk.cargo import BatchHandler, Cargo
from livejobs_sdk.connection import Connection, Frame
from livejobs_sdk.errors import CallError, Fatal, LivejobsError, Snooze
from livejobs_sdk.job import WorkerJob
from livejobs_sdk.joblog import in_job_context

log = logging.getLogger("livejobs.worker")

#: a heartbeat refused so says the run's lease is gone: the job is not running (retried after
#: its lease lapsed, finished, cancelled), the lease is another run's, or the job was removed
LEASE_GONE = frozenset({"conflict", "forbidden", "not_found"})

Handler = Callable[[WorkerJob], Awaitable[Any]]
#: ``on_success(job, result)`` / ``on_failure(job, exc)``: a function or a coroutine function
Hook = Callable[[WorkerJob, Any], Any]


class Worker:
    def __init__(
        self,
        conn: Connection,
        types: Iterable[str],
        handler: Handler | BatchHandler,
        *,
        concurrency: int = 1,
        prefetch: int = 0,
        worker_id: str | None = None,
        lease: float | None = None,
        payload: int = 1,
        on_success: Hook | None = None,
        on_failure: Hook | None = None,
    ) -> None:
        if payload < 1:
            raise ValueError("payload is at least 1")
        self.conn = conn
        self.prefetch = prefetch
        self._handlers = asyncio.Semaphore(concurrency)
        self.types = [types] if isinstance(types, str) else list(types)
        self.handler = in_job_context(cast(Handler, handler))  # current_job() knows the job
        self.payload = payload
        self.cargo = None
        if payload > 1:  # the handler takes a list of jobs
            self.cargo = Cargo(cast(BatchHandler, handler), payload, self._handlers, self._spawn)
        self.on_success, self.on_failure = on_success, on_failure
        self.paused = False
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.lease = lease
        self.running: dict[str, tuple[asyncio.Task[None], WorkerJob]] = {}
        self.completed = 0
        self._stopping = asyncio.Event()
        #: loop time of each held job's next lease renewal (see ``_renew_leases``)
        self._renew_at: dict[str, float] = {}
        self._renewals_changed = asyncio.Event()
        self._next_renewal = math.inf
        self._background: set[asyncio.Task[None]] = set()

    async def _register(self) -> None:
        if self._stopping.is_set():  # a reconnect while draining: no new jobs, so no register
            return
        # in cargo mode each handler slot takes up to ``payload`` jobs
        slots = self.concurrency * self.payload
        params: dict[str, Any] = {"types": self.types, "concurrency": slots}
        if self.prefetch:
            params["prefetch"] = self.prefetch
        if self.worker_id:
            params["worker_id"] = self.worker_id
        if self.lease:
            params["lease"] = self.lease
        if self.paused:  # paused before it started, or before a reconnect
            params["paused"] = True
        try:
            started = await self.conn.call("worker.start", params)
        except CallError as exc:
            if "paused" not in params or exc.code != "invalid" or "paused" not in exc.message:
                raise
            del params["paused"]  # a server older than the param: pause right after
            started = await self.conn.call("worker.start", params)
            await self.conn.call("worker.pause", {})
        self.worker_id = started["worker_id"]

    async def pause(self) -> None:
        """Take no new jobs (job-collection's ``q.pause()``); running ones go on. It holds
        across reconnects: a job pushed before the server knows of it is handed back."""
        self.paused = True
        await self._tell("worker.pause")

    async def resume(self) -> None:
        self.paused = False
        await self._tell("worker.resume")

    async def _tell(self, method: str) -> None:
        if self.conn.worker is self and self.worker_id is not None and self.conn.connected:
            await self.conn.call(method, {})

    def _on_job(self, frame: Frame) -> None:
        job = WorkerJob(self.conn, frame["job"])
        if self.paused:  # pushed before the server had the pause (a server without ``paused``)
            job.reported = True
            self._spawn(self._snooze_now(job))
            return
        # pushed again while the run before has not ended yet (after a lost connection, or
        # its lease lapsed and the retry came here): that run's lease is gone, so it is told,
        # and this one waits for it to end
        earlier = None
        if (before := self.running.get(job.id)) is not None:
            earlier = before[0]
            if not earlier.done() and not before[1].cancelled.is_set():  # told once only: a
                self._stop_run(*before)  # second cancel would stop waiting for its thread
        task = asyncio.create_task(self._run(job, earlier), name=f"livejobs-job-{job.id}")
        self.running[job.id] = (task, job)
        renew_at = asyncio.get_running_loop().time() + _renewal_period(job)
        self._renew_at[job.id] = renew_at
        if renew_at < self._next_renewal:
            self._renewals_changed.set()

        def forget(done: asyncio.Task[None], job_id: str = job.id) -> None:
            entry = self.running.get(job_id)
            if entry is not None and entry[0] is done:  # not a newer run of the same job
                del self.running[job_id]
                self._renew_at.pop(job_id, None)

        task.add_done_callback(forget)

    def _on_cancel(self, frame: Frame) -> None:
        entry = self.running.get(frame["id"])
        if entry is not None:
            self._stop_run(*entry)

    @staticmethod
    def _stop_run(task: asyncio.Task[None], job: WorkerJob) -> None:
        """The job is no longer this run's (cancelled, its lease lost): its handler is told."""
        job.cancelled.set()
        job.reported = True  # the server already knows: nothing to report
        task.cancel()

    def _on_disconnect(self) -> None:
        for task, job in list(self.running.values()):
            job.reported = True  # the lease died with the socket
            job.cancelled.set()  # a handler in a thread, which no cancel reaches, stops too
            task.cancel()

    async def run(self) -> None:
        """Work until ``stop()`` (running handlers finish) or cancellation (running jobs are
        handed back to the server without counting an attempt); ``ConnectionLost`` once the
        client is closed, or its server lost without ``reconnect``. The server takes one worker
        per connection: when the client's connection already runs one, this worker opens a
        connection of its own (same URL and token) and closes it when it ends."""
        if self.conn.worker is not None:
            parent, self.conn = self.conn, self.conn.sibling()
            try:
                await self.conn.open()
                await self._run_on_connection()
            finally:
                await self.conn.close()
                parent.kin.discard(self.conn)
        else:
            await self._run_on_connection()

    async def _run_on_connection(self) -> None:
        self.conn.worker = self
        self.conn.on_push["job"] = self._on_job
        self.conn.on_push["cancel"] = self._on_cancel
        self.conn.on_reconnect.append(self._register)
        self.conn.on_disconnect.append(self._on_disconnect)
        renewals = asyncio.create_task(self._renew_leases(), name="livejobs-lease-renewals")
        try:
            await self._register()
            # a closed client (or, without reconnect, a lost server) ends the worker: its jobs
            # went back with the socket, and no stop could come through a dead connection
            await self.conn.unless_down(self._stopping.wait())
            await self._stop_taking()
            tasks = [task for task, _ in self.running.values()]
            if tasks:  # wait, not gather: a cancel here must leave the jobs to _hand_back
                await asyncio.wait(tasks)
        except asyncio.CancelledError:
            await self._hand_back()
            raise
        except LivejobsError:  # the connection is gone for good, and the jobs with it
            self._on_disconnect()
            raise
        finally:
            renewals.cancel()
            for task in self._background:
                task.cancel()
            self.conn.on_reconnect.remove(self._register)
            self.conn.on_disconnect.remove(self._on_disconnect)
            self.conn.worker = None

    def stop(self) -> None:
        """Graceful: take no more jobs, let running handlers finish, then ``run()`` returns."""
        self._stopping.set()

    async def _stop_taking(self) -> None:
        with contextlib.suppress(LivejobsError, asyncio.TimeoutError):
            if self.conn.connected:
                await self.conn.call("worker.stop", {}, timeout=5)

    async def _hand_back(self) -> None:
        """Give the running jobs back, all at once: a process exiting after a Ctrl-C closes
        the connection soon, and a job not handed back by then costs an attempt."""
        await self._stop_taking()
        entries = list(self.running.values())
        for task, job in entries:
            job.reported = True
            job.cancelled.set()  # a handler in a thread cannot be cancelled, only told
            task.cancel()
        await asyncio.gather(*(self._snooze_now(job) for _, job in entries))

    async def _snooze_now(self, job: WorkerJob) -> None:
        with contextlib.suppress(LivejobsError, asyncio.TimeoutError):
            params = {"id": job.id, "lease": job.lease_token, "seconds": 0}
            await self.conn.call("jobs.snooze", params, timeout=5)

    async def _run(self, job: WorkerJob, earlier: asyncio.Task[None] | None = None) -> None:
        claim = tracing.claim(job.doc, self.worker_id)  # until a handler is free for it
        try:
            if earlier is not None:  # one job never runs twice at once here
                await asyncio.wait([earlier])
            result = await self._handle(job, claim)
        except asyncio.CancelledError:
            if job.reported:  # cancelled by the server, or handed back: nothing to report
                return
            raise
        except Snooze as exc:
            await self._report(job, "jobs.snooze", seconds=exc.seconds)
        except Exception as exc:
            fatal = isinstance(exc, Fatal)
            if await self._report(job, "jobs.fail", error=_error(exc), fatal=fatal):
                await _call_hook(self.on_failure, job, exc)
        else:
            if await self._report(job, "jobs.done", result=result):
                await _call_hook(self.on_success, job, result)
        finally:
            claim.end()
            self.completed += 1

    async def _handle(self, job: WorkerJob, claim: tracing.Claim) -> Any:
        if self.cargo is not None:
            return await self.cargo.run(job)
        async with self._handlers:  # prefetched jobs wait here, their leases kept alive
            claim.end()
            with tracing.running(job.doc, self.worker_id):
                return await self.handler(job)

    async def _report(self, job: WorkerJob, method: str, **params: Any) -> bool:
        """Send the job's final report; False if the handler had reported it itself, or
        the result could not be sent (the job is then failed)."""
        if job.reported:
            return False
        job.reported = True
        try:
            await self._send_report(job, method, params)
        except (TypeError, ValueError) as exc:
            # the handler's result is not JSON (msgspec said why): the attempt fails as if the
            # handler had raised, instead of dying in this task unseen while the lease runs out
            log.warning("job %s: its result cannot be sent: %s", job.id, exc)
            await self._send_report(job, "jobs.fail", {"error": _error(exc), "fatal": False})
            return False
        return True

    async def _send_report(self, job: WorkerJob, method: str, params: dict[str, Any]) -> None:
        try:
            await self.conn.call(method, {"id": job.id, "lease": job.lease_token, **params})
        except (LivejobsError, TimeoutError) as exc:  # no reply within call_timeout
            log.warning("could not report %s for job %s: %s", method, job.id, exc)

    async def _renew_leases(self) -> None:
        """Heartbeat every held job (running, or prefetched and waiting for a handler) a third
        of its lease after the last renewal. One timer for all of them: a task and a timer per
        job cost more than a short job itself."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for job_id, renew_at in list(self._renew_at.items()):
                entry = self.running.get(job_id)
                if renew_at <= now and entry is not None:
                    self._renew_at[job_id] = now + _renewal_period(entry[1])
                    self._spawn(self._heartbeat(entry[1]))
            self._next_renewal = min(self._renew_at.values(), default=math.inf)
            self._renewals_changed.clear()
            if self._next_renewal == math.inf:
                await self._renewals_changed.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._renewals_changed.wait(), self._next_renewal - now)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _heartbeat(self, job: WorkerJob) -> None:
        if job.reported:
            return
        try:
            await job.heartbeat()
        except CallError as exc:
            log.warning("heartbeat for job %s failed: %s", job.id, exc)
            entry = self.running.get(job.id)
            if exc.code in LEASE_GONE and entry is not None and entry[1] is job:
                self._stop_run(*entry)  # retried elsewhere, or finished: not ours to run on
        except (LivejobsError, TimeoutError) as exc:
            log.warning("heartbeat for job %s failed: %s", job.id, exc)


async def _call_hook(hook: Hook | None, job: WorkerJob, value: Any) -> None:
    """A success or failure hook; what it raises is logged, never the job's concern."""
    if hook is None:
        return
    try:
        outcome = hook(job, value)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        log.exception("the hook %r raised for job %s", hook, job.id)


def _renewal_period(job: WorkerJob) -> float:
    return max(float(job.doc["lease"]["expires"] - job.doc["started"]) / 3, 0.2)


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "message": str(exc) or type(exc).__name__,
        "type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }
