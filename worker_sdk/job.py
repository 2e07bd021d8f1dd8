"""Jobs as the SDK shows them: a builder/handle for producers (``Job``) and the running job a
handler receives (``WorkerJob``). Method names follow job-collection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from livejobs_sdk import names, tracing
from livejobs_sdk.errors import JobFailed

if TYPE_CHECKING:
    from livejobs_sdk.connection import Connection

#: the statuses of a finished job
FINISHED = names.FINISHED
COMPLETED = names.STATUS["COMPLETED"]


class JobClient(Protocol):
    """What a ``Job`` needs of its client (``livejobs_sdk.Client`` is one)."""

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        retry: bool | None = None,
    ) -> Any: ...

    async def get_job(self, job_id: str) -> dict[str, Any]: ...

    async def wait_finished(self, job_id: str, timeout: float | None = None) -> dict[str, Any]: ...

    def _with_trace(self, spec: dict[str, Any], trace: dict[str, str] | None) -> dict[str, Any]: ...


def _epoch(when: datetime | float) -> float:
    return when.timestamp() if isinstance(when, datetime) else float(when)


class Job:
    """Build a job with chained options, ``await job.save()``, then control it.

    >>> job = client.job("email", {"to": "a@b.c"}).priority("high").retry(retries=3, wait=5)
    >>> await job.save()
    """

    def __init__(
        self, client: JobClient, job_type: str, data: Any = None, doc: dict[str, Any] | None = None
    ) -> None:
        self._client = client
        self.spec: dict[str, Any] = {"type": job_type, "data": data}
        self.doc: dict[str, Any] | None = doc

    # -- builder (before save) ---------------------------------------------------------------
    def priority(self, level: int | str) -> Job:
        self.spec["priority"] = level
        return self

    def retry(
        self,
        retries: int = 0,
        wait: float = 0.0,
        backoff: str = "constant",
        max_wait: float | None = None,
        until: datetime | float | None = None,
    ) -> Job:
        """Retry failed attempts ``retries`` times, but none that would start after ``until``.
        Without this, the type's default policy applies (``Client.set_type_retry``), else the
        server's (setting ``default_retry``)."""
        self.spec["retry"] = {"retries": retries, "wait": wait, "backoff": backoff}
        if max_wait is not None:
            self.spec["retry"]["max_wait"] = max_wait
        if until is not None:
            self.spec["retry"]["until"] = _epoch(until)
        return self

    def delay(self, seconds: float) -> Job:
        self.spec["delay"] = seconds
        return self

    def after(self, when: datetime | float) -> Job:
        self.spec["after"] = _epoch(when)
        return self

    def repeat(
        self,
        every: float | None = None,
        cron: str | None = None,
        tz: str | None = None,
        times: int | None = None,
        until: datetime | float | None = None,
        fixed: bool = False,
    ) -> Job:
        """Run again after each finish: ``every`` seconds after it, or with ``fixed=True`` on
        fixed steps of ``every`` from the first run (a late run skips the steps it passed);
        or at the times of ``cron`` in time zone ``tz``. ``times`` and ``until`` end it."""
        spec: dict[str, Any] = {
            "every": every,
            "cron": cron,
            "tz": tz,
            "times": times,
            "until": None if until is None else _epoch(until),
            "fixed": fixed or None,  # left out unless asked: a 0.1.0 server refuses it
        }
        self.spec["repeat"] = {k: v for k, v in spec.items() if v is not None}
        return self

    def depends(self, *jobs: Job | str | Iterable[Job | str]) -> Job:
        ids: list[str] = []
        for item in jobs:
            for one in [item] if isinstance(item, Job | str) else list(item):
                ids.append(one if isinstance(one, str) else one.id)
        self.spec["depends"] = ids
        return self

    def key(self, key: str) -> Job:
        self.spec["key"] = key
        return self

    def debounce(self, seconds: float, max_wait: float | None = None) -> Job:
        """With ``key``: saving again within ``seconds`` replaces the pending job's data and
        restarts the wait (trailing), but the job runs at most ``max_wait`` after the first save."""
        self.spec["debounce"] = {"seconds": seconds}
        if max_wait is not None:
            self.spec["debounce"]["max_wait"] = max_wait
        return self

    def lifo(self, lifo: bool = True) -> Job:
        """Claimed before the older ready jobs of its priority (last in, first out)."""
        self.spec["lifo"] = lifo
        return self

    def unique_for(self, seconds: float) -> Job:
        """With ``key``: the key also blocks a new job for ``seconds`` after its job finished
        (saving again returns the finished job)."""
        self.spec["unique_for"] = seconds
        return self

    def expire(self, seconds: float) -> Job:
        self.spec["expire"] = seconds
        return self

    def target(self, worker_id: str) -> Job:
        """Only this worker runs the job. Worker ids are ``<user>/<name>`` (the server binds
        them to the worker's user: ``Worker.worker_id`` once started)."""
        self.spec["target"] = worker_id
        return self

    def exclude(self, *worker_ids: str) -> Job:
        """These workers (``<user>/<name>``) never run the job."""
        self.spec["exclude"] = list(worker_ids)
        return self

    def retain(self, seconds: float) -> Job:
        self.spec["retain"] = seconds
        return self

    def keep(
        self,
        *,
        completed: int | None = None,
        failed: int | None = None,
        cancelled: int | None = None,
    ) -> Job:
        """When this job finishes ``completed`` (``failed``, ``cancelled``), only the newest
        that many of its type's jobs of that status made by the same user are kept, the older
        ones removed: BullMQ's ``removeOnComplete: {count}`` (``removeOnFail``) on a job. A
        type's counts (``Client.set_type_keep``) cover every user's jobs, and apply too."""
        counts = {"completed": completed, "failed": failed, "cancelled": cancelled}
        self.spec["keep"] = {status: n for status, n in counts.items() if n is not None} or None
        return self

    def private(self, data: Any) -> Job:
        self.spec["private"] = data
        return self

    def time_limit(self, seconds: float) -> Job:
        """An attempt running longer is stopped (its handler cancelled) and failed, then
        retried per ``retry``, however its worker heart-beats."""
        self.spec["time_limit"] = seconds
        return self

    def group(self, name: str) -> Job:
        """The group (a tenant, say) whose limits within the type (``types.set_limits``'s
        ``group_concurrency``, ``group_rate_limit``) this job counts against."""
        self.spec["group"] = name
        return self

    async def save(self, timeout: float | None = None) -> Job:
        """Store the job; ``id`` is set. With a key already held, this becomes that job.
        Survives a reconnect within ``timeout`` (default: the client's ``call_timeout``): the
        create is sent again with the same request id, so it makes one job. With
        OpenTelemetry, a ``livejobs.create`` span whose context the job carries (``tracing``)."""
        with tracing.creating(self.spec["type"]) as creation:
            spec = self._client._with_trace(self.spec, creation.trace)
            self.doc = await self._client.call("jobs.create", spec, timeout)
            creation.created([self.id])
        return self

    # -- handle (after save) ---------------------------------------------------------------
    @property
    def id(self) -> str:
        if self.doc is None:
            raise RuntimeError("the job is not saved yet")
        return str(self.doc["id"])

    @property
    def status(self) -> str | None:
        return None if self.doc is None else self.doc["status"]

    @property
    def data(self) -> Any:
        return self.doc["data"] if self.doc else self.spec.get("data")

    async def refresh(self) -> Job:
        self.doc = await self._client.get_job(self.id)
        return self

    async def _control(self, action: str, **options: bool) -> Any:
        params = {"id": self.id, **{k: v for k, v in options.items() if v}}
        result = await self._client.call(f"jobs.{action}", params)
        if isinstance(result, dict) and result.get("id") == self.id:
            self.doc = result
        return result

    async def cancel(self, antecedents: bool = False) -> Job:
        """``antecedents``: also cancel the unfinished jobs it depends on (and theirs)."""
        await self._control("cancel", antecedents=antecedents)
        return self

    async def restart(self, dependents: bool = False) -> Job:
        """``dependents``: also bring back the dependants its failure cancelled."""
        await self._control("restart", dependents=dependents)
        return self

    async def pause(self) -> Job:
        await self._control("pause")
        return self

    async def set_delay(self, seconds: float | None = None, *, at: datetime | None = None) -> Job:
        """A queued job runs ``seconds`` from now, or ``at`` a time, instead (0: now)."""
        when: dict[str, Any] = {"delay": seconds} if at is None else {"after": at.timestamp()}
        result = await self._client.call("jobs.set_delay", {"id": self.id, **when})
        if isinstance(result, dict) and result.get("id") == self.id:
            self.doc = result
        return self

    async def set_priority(self, level: int | str) -> Job:
        """A queued job's new priority (an integer, lower runs first, or a level name)."""
        result = await self._client.call("jobs.set_priority", {"id": self.id, "priority": level})
        if isinstance(result, dict) and result.get("id") == self.id:
            self.doc = result
        return self

    async def resume(self) -> Job:
        await self._control("resume")
        return self

    async def ready(self, force: bool = False) -> Job:
        """Run a delayed job now; ``force``: even though its dependencies are unfinished."""
        await self._control("ready", force=force)
        return self

    async def rerun(self) -> Job:
        """A completed job copied into a new job, which is returned."""
        doc = await self._client.call("jobs.rerun", {"id": self.id})
        return Job(self._client, doc["type"], doc.get("data"), doc)

    async def remove(self) -> bool:
        return bool(await self._control("remove"))

    async def result(self, timeout: float | None = None) -> Any:
        """Wait until the job finishes: its result, or ``JobFailed`` if it failed or was
        cancelled."""
        doc = await self._client.wait_finished(self.id, timeout)
        self.doc = doc
        if doc["status"] != COMPLETED:
            raise JobFailed(doc)
        return doc.get("result")  # absent for a role that may not read it

    def __repr__(self) -> str:
        where = f"id={self.doc['id']} status={self.doc['status']}" if self.doc else "unsaved"
        return f"<Job {self.spec['type']} {where}>"


class WorkerJob:
    """The running job a handler gets: its data, and reporting calls authorised by the lease."""

    def __init__(self, connection: Connection, doc: dict[str, Any]) -> None:
        self._conn = connection
        self.doc = doc
        self.id: str = doc["id"]
        self.type: str = doc["type"]
        self.data: Any = doc["data"]
        self.private: Any = doc.get("private")
        self.attempt: int = doc["attempts"]
        self.lease_token: str = doc["lease"]["token"]
        #: what each of its dependencies returned, by dependency id, sent with the job
        self.dependency_results: dict[str, Any] = dict(doc.get("results") or {})
        #: set when the job is cancelled while running (for cooperative handlers)
        self.cancelled = asyncio.Event()
        self.reported = False

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "lease": self.lease_token, **extra}

    async def log(self, message: str, level: str = "info", data: Any = None) -> None:
        await self._conn.call("jobs.log", self._params(message=message, level=level, data=data))

    async def progress(self, completed: float, total: float) -> None:
        await self._conn.call("jobs.progress", self._params(completed=completed, total=total))

    async def update_data(self, data: Any, merge: bool = False) -> None:
        """Change this running job's data (subscribers see the change): replace it, or with
        ``merge`` update the top-level keys of an object."""
        doc = await self._conn.call("jobs.update_data", self._params(data=data, merge=merge))
        self.data = self.doc["data"] = doc["data"]

    async def fail(self, error: Any, fatal: bool = False) -> None:
        """Fail now (the handler's return value is then ignored)."""
        self.reported = True
        await self._conn.call("jobs.fail", self._params(error=error, fatal=fatal))

    async def done(self, result: Any = None) -> None:
        self.reported = True
        await self._conn.call("jobs.done", self._params(result=result))

    async def heartbeat(self) -> None:
        await self._conn.call("jobs.heartbeat", self._params())

    def __repr__(self) -> str:
        return f"<WorkerJob {self.type} id={self.id} attempt={self.attempt}>"


__all__ = ["Job", "WorkerJob", "FINISHED"]
