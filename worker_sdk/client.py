"""``Client``: the SDK's entry point — create and control jobs, subscribe, process work."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from livejobs_sdk import tracing
from livejobs_sdk.cargo import BatchHandler
from livejobs_sdk.connection import Connection, Frame
from livejobs_sdk.errors import ConnectionLost
from livejobs_sdk.job import FINISHED, Job, WorkerJob
from livejobs_sdk.subscription import Subscription, window_params
from livejobs_sdk.type_rules import TypeRulesCalls
from livejobs_sdk.worker import Handler, Hook, Worker


def _spec(item: Job | tuple[str, Any] | dict[str, Any]) -> dict[str, Any]:
    """A job to create as its spec: a ``Job`` builder, ``(type, data)`` or a spec dict."""
    if isinstance(item, Job):
        return item.spec
    if isinstance(item, tuple):
        return {"type": item[0], "data": item[1] if len(item) > 1 else None}
    return item


async def _fill(client: Client, items: list[Any], ids: list[str]) -> None:
    """The ``Job`` builders among ``items`` become their jobs, as ``Job.save`` makes them."""
    builders = [
        (item, job_id) for item, job_id in zip(items, ids, strict=True) if isinstance(item, Job)
    ]
    if builders:  # two may be one job (a key): each becomes it
        docs = {doc["id"]: doc for doc in await client.get_jobs(i for _, i in builders)}
        for builder, job_id in builders:
            builder.doc = docs.get(job_id)


class Client(TypeRulesCalls):
    """A connection to a livejobs server, or to the first that answers of several sharing one
    database (``url`` a list): when it is lost, the client moves on to the next, taking its
    workers and subscriptions along. ``call_timeout`` bounds each call (waiting for a
    connection while reconnecting included) unless the call gives its own ``timeout``.

    >>> async with Client("ws://127.0.0.1:8000/ws", token=TOKEN) as client:
    ...     await client.job("echo", {"q": 1}).save()
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None = None,
        *,
        reconnect: bool = True,
        open_timeout: float = 10.0,
        call_timeout: float | None = 30.0,
    ) -> None:
        self._conn = Connection(
            url, token, reconnect=reconnect, open_timeout=open_timeout, call_timeout=call_timeout
        )
        self._subs: dict[str, Subscription] = {}
        self._early: dict[str, list[Frame]] = {}
        for kind in ("added", "changed", "removed", "ready", "reset", "order", "counts"):
            self._conn.on_push[kind] = self._route

    @property
    def identity(self) -> dict[str, Any]:
        """``{user, role, methods}`` as the server authenticated this client."""
        return self._conn.identity

    async def connect(self) -> Client:
        await self._conn.open()
        return self

    async def close(self) -> None:
        for sub in list(self._subs.values()):
            sub._closed = True
        await self._conn.close()

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        retry: bool | None = None,
    ) -> Any:
        """Any protocol method (see docs/protocol.md), within ``timeout`` seconds (default:
        the client's ``call_timeout``), waiting for the connection while it reconnects.
        Creates (with a fresh request id) and reads are sent again if the connection drops
        before their reply; pass ``retry`` to choose for another call."""
        return await self._conn.call(method, params, timeout, retry=retry)

    # -- jobs ------------------------------------------------------------------------------
    def job(self, job_type: str, data: Any = None) -> Job:
        """A job builder; nothing is stored until ``await job.save()``."""
        return Job(self, job_type, data)

    async def create_many(
        self, jobs: Iterable[Job | tuple[str, Any] | dict[str, Any]], timeout: float | None = None
    ) -> list[str]:
        """Create many jobs in one call; returns their ids in order. Like ``Job.save``, it
        survives a reconnect within ``timeout`` and makes each job once, and the ``Job``
        builders given become their jobs (one more call reads them)."""
        return await self._create_many(jobs, None, timeout)

    async def fan_in(
        self,
        jobs: Iterable[Job | tuple[str, Any] | dict[str, Any]],
        then: Job | tuple[str, Any] | dict[str, Any],
        timeout: float | None = None,
    ) -> list[str]:
        """A chord: ``jobs``, and ``then`` depending on them all, created in one call. ``then``
        runs once all completed, with their results in ``WorkerJob.dependency_results``.
        Returns the ids in order, ``then``'s last."""
        return await self._create_many(jobs, then, timeout)

    async def _create_many(
        self,
        jobs: Iterable[Job | tuple[str, Any] | dict[str, Any]],
        then: Job | tuple[str, Any] | dict[str, Any] | None,
        timeout: float | None,
    ) -> list[str]:
        items = [*jobs, *([] if then is None else [then])]
        specs = [_spec(item) for item in items]
        if then is not None:
            specs.pop()
        with tracing.creating(None) as creation:
            params: dict[str, Any] = {
                "jobs": [self._with_trace(spec, creation.trace) for spec in specs]
            }
            if then is not None:
                params["then"] = self._with_trace(_spec(then), creation.trace)
            ids = list((await self.call("jobs.create_many", params, timeout))["ids"])
            creation.created(ids)
        await _fill(self, items, ids)
        return ids

    def _with_trace(self, spec: dict[str, Any], trace: dict[str, str] | None) -> dict[str, Any]:
        """``spec`` with its creator's trace context, unless it has one or the server is too
        old to take the field (release 0.1.0 has no ``protocol`` in its identity)."""
        if trace is None or "trace" in spec or "protocol" not in self._conn.identity:
            return spec
        return {**spec, "trace": trace}

    async def get_job(self, job_id: str) -> dict[str, Any]:
        return dict(await self.call("jobs.get", {"id": job_id}))

    async def job_handle(self, job_id: str) -> Job:
        """A ``Job`` handle for an existing job (job-collection's ``getJob``)."""
        doc = await self.get_job(job_id)
        return Job(self, doc["type"], doc.get("data"), doc)

    async def get_jobs(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The jobs of ``ids`` that exist and this client may read, in the order given."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for at in range(0, len(wanted), 1000):
            part = wanted[at : at + 1000]
            for doc in await self.find({"id": {"$in": part}}, limit=len(part)):
                found[doc["id"]] = doc
        return [found[i] for i in wanted if i in found]

    async def ready_jobs(
        self, ids: Iterable[str] | None = None, *, type: str | None = None
    ) -> dict[str, Any]:
        """Make waiting jobs ready now (job-collection's ``readyJobs``): those of ``ids``, or
        every waiting job (of ``type``); unfinished dependencies still hold a job back."""
        if ids is None:
            filter: dict[str, Any] = {"status": "waiting", **({"type": type} if type else {})}
            ids = [doc["id"] for doc in await self.find(filter, limit=10_000)]
        return await self.control("ready", ids)

    async def find(
        self,
        filter: dict[str, Any] | None = None,
        sort: Any = None,
        limit: int = 1000,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"filter": filter or {}, "limit": limit, "skip": skip}
        if sort is not None:
            params["sort"] = sort
        return list(await self.call("jobs.find", params))

    async def counts(self, filter: dict[str, Any] | None = None) -> dict[str, Any]:
        """How many jobs you may read match, per ``status`` and per ``type`` (and
        ``partial: True`` when a per-job read rule stopped the count at 10,000 jobs)."""
        return dict(await self.call("jobs.counts", {"filter": filter or {}}))

    async def run(
        self, job_type: str, data: Any = None, timeout: float | None = None, **options: Any
    ) -> Any:
        """Create a job and wait for its result (``JobFailed`` if it fails or is cancelled)."""
        job = self.job(job_type, data)
        job.spec.update(options)
        await job.save()
        return await job.result(timeout)

    async def wait_finished(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait, without polling, until a job is completed, failed or cancelled."""

        async def wait() -> dict[str, Any]:
            async with self.subscribe({"id": job_id}) as sub:
                async for event in sub:
                    if event.doc is not None and event.doc["status"] in FINISHED:
                        return event.doc
                    if event.kind == "removed" or event.kind == "ready" and not sub.docs:
                        return await self.get_job(job_id)  # raises not_found if it is gone
            raise ConnectionLost("subscription closed")

        return await asyncio.wait_for(wait(), timeout)

    async def control(
        self, action: str, ids: Iterable[str], reason: str | None = None
    ) -> dict[str, Any]:
        """Bulk cancel/restart/pause/resume/ready/remove (managers): ``{done, errors}``."""
        params: dict[str, Any] = {"ids": list(ids)}
        if reason:
            params["reason"] = reason
        return dict(await self.call(f"jobs.{action}", params))

    async def set_priority(self, ids: Iterable[str], level: int | str) -> dict[str, Any]:
        """Move queued jobs (waiting, ready, paused) to priority ``level`` (managers), as
        BullMQ's ``changePriority``: ``{done, errors}``."""
        return dict(await self.call("jobs.set_priority", {"ids": list(ids), "priority": level}))

    async def set_delay(self, ids: Iterable[str], seconds: float) -> dict[str, Any]:
        """Queued jobs run ``seconds`` from now instead (managers), as BullMQ's
        ``changeDelay``: ``{done, errors}``."""
        return dict(await self.call("jobs.set_delay", {"ids": list(ids), "delay": seconds}))

    async def cancel_jobs(self, ids: Iterable[str]) -> dict[str, Any]:
        return await self.control("cancel", ids)

    async def restart_jobs(self, ids: Iterable[str]) -> dict[str, Any]:
        return await self.control("restart", ids)

    async def pause_jobs(self, ids: Iterable[str]) -> dict[str, Any]:
        return await self.control("pause", ids)

    async def resume_jobs(self, ids: Iterable[str]) -> dict[str, Any]:
        return await self.control("resume", ids)

    async def remove_jobs(self, ids: Iterable[str]) -> dict[str, Any]:
        return await self.control("remove", ids)

    async def clean(self, filter: dict[str, Any] | None = None, limit: int | None = None) -> int:
        """Remove finished jobs matching ``filter`` (managers); how many were removed."""
        params: dict[str, Any] = {"filter": filter or {}}
        if limit is not None:
            params["limit"] = limit
        return int((await self.call("jobs.clean", params))["removed"])

    async def drain(
        self,
        filter: dict[str, Any] | None = None,
        limit: int | None = None,
        reason: str | None = None,
    ) -> int:
        """Cancel the queued jobs (waiting, ready, paused) matching ``filter``, oldest first
        (managers and admins); running jobs finish. Returns how many were cancelled."""
        params: dict[str, Any] = {"filter": filter or {}}
        if limit is not None:
            params["limit"] = limit
        if reason is not None:
            params["reason"] = reason
        return int((await self.call("jobs.drain", params))["cancelled"])

    async def schedules(self) -> list[dict[str, Any]]:
        """The repeating jobs' schedules: ``key``, ``type``, ``repeat``, ``next`` run, ``id``."""
        return list(await self.call("schedules.list", {}))

    # -- live ------------------------------------------------------------------------------
    def subscribe(
        self,
        filter: dict[str, Any] | None = None,
        *,
        sort: Any = None,
        limit: int | None = None,
        skip: int = 0,
        counts: bool = False,
    ) -> Subscription:
        """Live jobs matching ``filter``: iterate it, or use ``async with``. With ``limit``,
        only a live window of them (``sort`` as ``find``'s, ``skip`` rows first): the server
        sends what enters, leaves or changes it, and refills it. With ``counts=True``, live
        counts per status and type instead of jobs."""
        window = window_params(sort, limit, skip, counts)
        return Subscription(self._conn, self._attach, self._detach, filter, window)

    def _attach(self, sub: Subscription) -> None:
        assert sub.sub_id is not None
        self._subs[sub.sub_id] = sub
        for frame in self._early.pop(sub.sub_id, []):
            sub._on_frame(frame)

    def _detach(self, sub: Subscription) -> None:
        if sub.sub_id is not None:
            self._subs.pop(sub.sub_id, None)
            self._early.pop(sub.sub_id, None)

    def _route(self, frame: Frame) -> None:
        sub = self._subs.get(frame.get("sub", ""))
        if sub is not None:
            sub._on_frame(frame)
        else:  # frames can overtake the coroutine that is registering the subscription
            self._early.setdefault(frame.get("sub", ""), []).append(frame)
            if len(self._early) > 1000:
                self._early.pop(next(iter(self._early)))

    # -- work ------------------------------------------------------------------------------
    def worker(
        self,
        types: str | Iterable[str],
        handler: Handler | BatchHandler,
        *,
        concurrency: int = 1,
        prefetch: int = 0,
        worker_id: str | None = None,
        lease: float | None = None,
        payload: int = 1,
        on_success: Hook | None = None,
        on_failure: Hook | None = None,
    ) -> Worker:
        """A worker to run as a task; ``worker.stop()`` ends it gracefully. ``prefetch`` jobs
        beyond ``concurrency`` are held ready, so a finished handler starts the next at once.
        ``payload=N``: the handler gets a list of up to N jobs and returns a list (or a dict
        by id) of their results; ``on_success(job, result)`` / ``on_failure(job, exc)`` run
        after each report; ``worker.pause()`` / ``resume()`` stop and restart the pushes."""
        return Worker(
            self._conn,
            types,
            handler,
            concurrency=concurrency,
            prefetch=prefetch,
            worker_id=worker_id,
            lease=lease,
            payload=payload,
            on_success=on_success,
            on_failure=on_failure,
        )

    async def process_jobs(
        self, types: str | Iterable[str], handler: Handler | BatchHandler, **options: Any
    ) -> None:
        """Run ``handler`` on pushed jobs of ``types`` until cancelled (options: ``worker``)."""
        await self.worker(types, handler, **options).run()

    async def get_work(
        self, types: str | Iterable[str], max_jobs: int = 1, *, lease: float | None = None
    ) -> list[WorkerJob]:
        """Claim up to ``max_jobs`` ready jobs now, for a worker that pulls instead of being
        pushed to (job-collection's ``getWork``); report each with ``job.done()``/``fail()``."""
        params: dict[str, Any] = {"types": [types] if isinstance(types, str) else list(types)}
        params["limit"] = max_jobs
        if lease is not None:
            params["lease"] = lease
        return [WorkerJob(self._conn, doc) for doc in await self.call("jobs.claim", params)]
