"""Job operations over the store: the lifecycle once, for every edge and backend.

A method handler calls one of these; each loads the job, applies a pure transition from
``lifecycle`` and writes it back with a compare-and-set on ``version``. What follows a finish
(the next run of a repeating job, dependants becoming ready or cancelled) happens here too, so
it happens once, in the call that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from livejobs import params as p
from livejobs.clock import Clock
from livejobs.errors import Conflict, Invalid, NotFound, TooLarge
from livejobs.jobs import bounds, lifecycle, schedule
from livejobs.jobs.bounds import DocLimits
from livejobs.jobs.flow import KIND as FLOW_RULES
from livejobs.jobs.flow import FlowControl
from livejobs.jobs.model import FINISHED, Job, Status, blank_job, new_id, priority_value
from livejobs.logs import context
from livejobs.store.base import ClaimRequest, CreateRequest, Store

Transition = Callable[[Job], Job]
#: whether the caller may know a job exists (``Ctx.may_read``)
Visible = Callable[[Job], bool]
CAS_ATTEMPTS = 5


log = logging.getLogger("livejobs.jobs")

#: the failure the server records when a lease runs out; the dispatcher knows a frozen worker by it
LEASE_EXPIRED = "lease expired: worker lost"


class JobService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        retain: float | None,
        lease: float,
        max_data: int,
        request_seconds: float = 86_400.0,
        min_repeat: float = 0.0,
        limits: DocLimits | None = None,
    ) -> None:
        self.store = store
        #: how long the answer of a create's ``request_id`` is remembered
        self.request_seconds = request_seconds
        self.clock = clock
        self.retain = retain
        self.lease = lease
        self.max_data = max_data
        #: a repeating job runs at most once per this many seconds
        self.min_repeat = min_repeat
        #: caps on what log, fail and done may add to a document (``livejobs.jobs.bounds``)
        self.limits = limits or DocLimits()
        self.flow = FlowControl(store)
        #: called with the documents of every insert just before it is queued (see ``_insert``)
        self.inserting: list[Callable[[list[Job]], None]] = []

    # -- create --------------------------------------------------------------------------

    def build(self, spec: p.JobSpec, owner: str) -> Job:
        """A complete document from a validated spec (no I/O)."""
        now = self.clock.now()
        size = len(msgspec.json.encode(spec.data)) + len(msgspec.json.encode(spec.private))
        if size > self.max_data:
            raise TooLarge(f"job data is {size} bytes; the limit is {self.max_data}")
        doc = blank_job(spec.type, spec.data, owner=owner, now=now)
        try:
            doc["priority"] = priority_value(spec.priority)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if spec.retry is not None:
            doc["retry"] = msgspec.to_builtins(spec.retry)
            doc["retry"].setdefault("max_wait", None)
            doc["retry"] = {**lifecycle_default_retry(), **doc["retry"]}
        if spec.delay is not None and spec.after is not None:
            raise Invalid("give either 'delay' or 'after', not both")
        doc["after"] = now + spec.delay if spec.delay is not None else max(spec.after or now, now)
        if spec.repeat is not None:
            repeat = {**_repeat_defaults(), **msgspec.to_builtins(spec.repeat)}
            schedule.validate(repeat, now=now, min_seconds=self.min_repeat)
            repeat["run"] = 1
            doc["repeat"] = repeat
            if repeat["cron"] is not None and spec.delay is None and spec.after is None:
                # the first run is the next matching time, never "immediately"
                doc["after"] = schedule.next_time(repeat, after=now)
        doc["depends"] = list(dict.fromkeys(spec.depends))
        doc["key"] = spec.key
        doc["expire_at"] = now + spec.expire if spec.expire is not None else None
        doc["target"] = spec.target
        doc["exclude"] = list(spec.exclude)
        doc["retain"] = spec.retain
        doc["private"] = spec.private
        doc["trace"] = None if spec.trace is None else msgspec.to_builtins(spec.trace)
        if spec.debounce is not None:
            if spec.key is None:
                raise Invalid("debounce needs a key: saves with the same key are merged")
            doc["after"] = now + spec.debounce.seconds
            doc["debounce"] = {
                "seconds": spec.debounce.seconds,
                "max_wait": spec.debounce.max_wait,
                "first": now,
            }
        bounds.append_log(doc, now=now, by=owner, message="created")
        return lifecycle.settle(doc, now, self.retain)

    async def create(
        self,
        spec: p.JobSpec,
        owner: str,
        request_id: str | None = None,
        may_see: Visible | None = None,
    ) -> Job:
        doc = self.build(spec, owner)
        if doc["depends"]:
            await self._check_dependencies(doc, may_see)
        request = self._request(owner, request_id)
        found = await self._insert([doc], request)
        if request is not None and request.replayed:
            if not found:
                raise NotFound(f"the job created by request {request_id!r} was removed since")
            return found[0]
        stored = found[0]
        if stored["id"] == doc["id"] and doc["depends"]:
            await self._link_dependencies(stored)
        elif stored["id"] != doc["id"] and doc.get("debounce") and stored.get("debounce"):
            return await self._debounce(stored, doc, owner)
        return stored

    def _request(self, owner: str, request_id: str | None) -> CreateRequest | None:
        if request_id is None:
            return None
        now = self.clock.now()
        return CreateRequest(owner, request_id, now, now + self.request_seconds)

    async def _insert(self, docs: list[Job], request: CreateRequest | None = None) -> list[Job]:
        """Insert, telling the ``inserting`` hooks first, with no await in between: on a store
        with ordered writes, a claim they queue for a ready job joins the insert's commit.
        (A replayed request inserts nothing: a claim the hooks queued finds nothing new.)"""
        for hook in self.inserting:
            hook(docs)
        return await self.store.insert(docs, request)

    async def _debounce(self, pending: Job, new: Job, by: str) -> Job:
        """Trailing debounce: the pending job takes the newest data and waits again, but never
        past its first save plus ``max_wait``."""
        now = self.clock.now()

        def merge(doc: Job) -> Job:
            if doc["status"] != Status.WAITING:
                raise Conflict(f"job {doc['id']} with key {doc['key']!r} already started")
            out = lifecycle.log(
                doc,
                lease_token=None,
                message="debounced: data replaced",
                level="info",
                data=None,
                by=by,
                now=now,
            )
            out["data"] = new["data"]
            after = now + doc["debounce"]["seconds"]
            if doc["debounce"]["max_wait"] is not None:
                after = min(after, doc["debounce"]["first"] + doc["debounce"]["max_wait"])
            out["after"] = after
            return lifecycle.settle(out, now, self.retain)

        try:
            return await self.transition(pending["id"], merge, pending)
        except Conflict:
            return pending

    async def create_many(
        self,
        specs: list[p.JobSpec],
        owner: str,
        request_id: str | None = None,
        may_see: Visible | None = None,
    ) -> list[str]:
        docs = [self.build(spec, owner) for spec in specs]
        if any(doc["depends"] for doc in docs):
            for doc in docs:
                if doc["depends"]:
                    await self._check_dependencies(doc, may_see)
        request = self._request(owner, request_id)
        stored = await self._insert(docs, request)
        if request is not None and request.replayed:
            return [doc["id"] for doc in stored]
        for doc, kept in zip(docs, stored, strict=True):
            if doc["depends"] and kept["id"] == doc["id"]:
                await self._link_dependencies(kept)
            elif kept["id"] != doc["id"] and doc.get("debounce") and kept.get("debounce"):
                await self._debounce(kept, doc, owner)  # a batch debounces as single saves do
        return [doc["id"] for doc in stored]

    async def _check_dependencies(self, doc: Job, may_see: Visible | None = None) -> None:
        """Unknown ids are refused; finished ones are dropped or cancel the new job. A job the
        creator may not see (``may_see``) counts as unknown: same answer, nothing learnt."""
        deps = await self.store.get_many(doc["depends"])
        found = {d["id"]: d for d in deps if may_see is None or may_see(d)}
        missing = [d for d in doc["depends"] if d not in found]
        if missing:
            raise Invalid(f"unknown dependencies: {', '.join(missing)}")
        now = self.clock.now()
        for dep in found.values():
            if dep["status"] == Status.COMPLETED:
                doc["depends"].remove(dep["id"])
            elif dep["status"] in (Status.FAILED, Status.CANCELLED):
                doc.update(status=Status.CANCELLED.value, finished=now)
                doc["reason"] = f"dependency {dep['id']} {dep['status']}"
        lifecycle.settle(doc, now, self.retain)
        if doc["status"] == Status.CANCELLED:
            doc["due"] = lifecycle.due_at(doc, self.retain)

    async def _link_dependencies(self, doc: Job) -> None:
        """Record the new job in each dependency's ``dependants``, so that the dependency's
        finish finds it without a search. A dependency that finished meanwhile (its write won
        the race) is applied to the new job at once."""
        for dep_id in doc["depends"]:
            try:
                await self.transition(
                    dep_id,
                    lambda d: lifecycle.add_dependant(d, dependant=doc["id"], now=self.clock.now()),
                )
            except Conflict:
                dep = await self.store.get(dep_id)
                if dep is not None and dep["status"] in FINISHED:
                    await self._release_dependants(dep, [doc["id"]])

    # -- reading -------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        doc = await self.store.get(job_id)
        if doc is None:
            raise NotFound(f"no job {job_id}")
        return doc

    # -- transitions -----------------------------------------------------------------------

    async def transition(self, job_id: str, change: Transition, doc: Job | None = None) -> Job:
        """Apply ``change`` with compare-and-set, re-reading and retrying when another write
        got in first; ``change`` raising ``Conflict`` (illegal from the new status) ends it."""
        for _ in range(CAS_ATTEMPTS):
            current = doc if doc is not None else await self.get(job_id)
            doc = None
            new = change(current)
            if len(new["log"]) > self.limits.log_entries:  # audit entries count too
                bounds.trim_log(new["log"], self.limits.log_entries, new["updated"])
            if await self.store.replace(new, current["version"], previous=current):
                if new["status"] in FINISHED and current["status"] not in FINISHED:
                    await self._after_finish(new)
                return new
        raise Conflict(f"job {job_id} is changing too fast; try again")

    async def control(
        self, action: str, job_id: str, by: str, doc: Job | None = None, reason: str | None = None
    ) -> Any:
        """The manager/creator actions: cancel, restart, pause, resume, ready, rerun, remove."""
        now = self.clock.now
        if action == "remove":
            return await self.remove(job_id, doc)
        if action == "rerun":
            source = doc or await self.get(job_id)
            copy = lifecycle.rerun_copy(source, by=by, now=now(), new_id=new_id())
            return (await self._insert([copy]))[0]
        moves: dict[str, Transition] = {
            "cancel": lambda d: lifecycle.cancel(
                d, by=by, now=now(), reason=reason or "cancelled", default_retain=self.retain
            ),
            "restart": lambda d: lifecycle.restart(d, by=by, now=now()),
            "pause": lambda d: lifecycle.pause(d, by=by, now=now()),
            "resume": lambda d: lifecycle.resume(d, by=by, now=now()),
            "ready": lambda d: lifecycle.ready_now(d, by=by, now=now()),
        }
        return await self.transition(job_id, moves[action], doc)

    async def remove(self, job_id: str, doc: Job | None = None) -> bool:
        current = doc or await self.get(job_id)
        if current["status"] not in FINISHED:
            raise Conflict(
                f"cannot remove job {job_id}: it is {current['status']}; cancel it first"
            )
        if not await self.store.delete(job_id, current["version"]):
            raise Conflict(f"job {job_id} changed while being removed; try again")
        return True

    # -- worker side -----------------------------------------------------------------------

    async def claim(
        self, types: list[str], worker_id: str, user: str, limit: int, lease: float | None = None
    ) -> list[Job]:
        """Start up to ``limit`` jobs for one worker, within the types' flow limits."""
        request = ClaimRequest(
            types=tuple(types),
            worker_id=worker_id,
            user=user,
            now=self.clock.now(),
            lease_seconds=lease or self.lease,
            limit=limit,
            rules=FLOW_RULES,
        )
        return await self.store.claim(request)

    async def heartbeat(
        self, job_id: str, token: str, lease: float | None = None, doc: Job | None = None
    ) -> float:
        seconds = lease or self.lease
        new = await self.transition(
            job_id,
            lambda d: lifecycle.heartbeat(
                d, lease_token=token, now=self.clock.now(), lease_seconds=seconds
            ),
            doc,
        )
        return float(new["lease"]["expires"])

    async def progress(
        self, job_id: str, token: str, completed: float, total: float, doc: Job | None = None
    ) -> None:
        await self.transition(
            job_id,
            lambda d: lifecycle.progress(
                d, lease_token=token, completed=completed, total=total, now=self.clock.now()
            ),
            doc,
        )

    async def log(
        self,
        job_id: str,
        token: str | None,
        message: str,
        level: str,
        data: Any,
        by: str,
        doc: Job | None = None,
    ) -> None:
        await self.transition(
            job_id,
            lambda d: lifecycle.log(
                d,
                lease_token=token,
                message=message,
                level=level,
                data=data,
                by=by,
                now=self.clock.now(),
                limits=self.limits,
            ),
            doc,
        )

    async def done(
        self, job_id: str, token: str, result: Any, by: str, doc: Job | None = None
    ) -> None:
        if result is not None and len(msgspec.json.encode(result)) > self.max_data:
            raise TooLarge(f"result is larger than {self.max_data} bytes")
        await self.transition(
            job_id,
            lambda d: lifecycle.complete(
                d,
                lease_token=token,
                result=result,
                by=by,
                now=self.clock.now(),
                default_retain=self.retain,
            ),
            doc,
        )

    async def fail(
        self, job_id: str, token: str, error: Any, fatal: bool, by: str, doc: Job | None = None
    ) -> None:
        new = await self.transition(
            job_id,
            lambda d: lifecycle.fail(
                d,
                error=error,
                by=by,
                now=self.clock.now(),
                fatal=fatal,
                lease_token=token,
                default_retain=self.retain,
                limits=self.limits,
            ),
            doc,
        )
        _log_failure(new, by)

    async def snooze(
        self, job_id: str, token: str, seconds: float, by: str, doc: Job | None = None
    ) -> None:
        await self.transition(
            job_id,
            lambda d: lifecycle.snooze(
                d, lease_token=token, seconds=seconds, by=by, now=self.clock.now()
            ),
            doc,
        )

    async def hand_back(self, job_id: str, token: str) -> None:
        """A claimed job its worker never started goes back as it was (attempt not counted)."""
        try:
            await self.snooze(job_id, token, 0, "server")
        except (Conflict, NotFound):
            pass

    async def worker_lost(self, job_id: str, token: str, worker_id: str) -> None:
        """The worker holding ``token`` disconnected: the attempt failed, retry per policy."""
        try:
            new = await self.transition(
                job_id,
                lambda d: lifecycle.fail(
                    d,
                    error="worker lost",
                    by="server",
                    now=self.clock.now(),
                    lease_token=token,
                    reason="worker lost",
                    default_retain=self.retain,
                ),
            )
        except (Conflict, NotFound):
            pass  # finished or re-leased meanwhile: nothing to take back
        else:
            _log_failure(new, "server")

    # -- time-driven (the scheduler) ----------------------------------------------------------

    async def on_due(self, doc: Job) -> None:
        """Act on a job whose ``due`` time has come."""
        now = self.clock.now()
        status = doc["status"]
        try:
            if (
                status in (Status.WAITING, Status.READY)
                and doc["expire_at"] is not None
                and doc["expire_at"] <= now
            ):
                await self.transition(doc["id"], lambda d: lifecycle.expire(d, now=now), doc)
            elif status == Status.WAITING:
                await self.transition(doc["id"], lambda d: lifecycle.promote(d, now=now), doc)
            elif status == Status.RUNNING:
                failed = await self.transition(
                    doc["id"],
                    lambda d: lifecycle.fail(
                        d,
                        error=LEASE_EXPIRED,
                        by="server",
                        now=now,
                        reason="worker lost",
                        default_retain=self.retain,
                    ),
                    doc,
                )
                _log_failure(failed, "server")
            elif status in (Status.COMPLETED, Status.CANCELLED):
                await self.store.delete(doc["id"], doc["version"])
            else:
                await self.transition(doc["id"], self._clear_due, doc)
        except (Conflict, NotFound):
            pass  # someone else moved it first; the store's next_due reflects that

    def _clear_due(self, doc: Job) -> Job:
        new = dict(doc, version=doc["version"] + 1, due=None)
        return new

    # -- what follows a finish -------------------------------------------------------------

    async def _after_finish(self, doc: Job) -> None:
        now = self.clock.now()
        if doc["status"] == Status.COMPLETED and doc["repeat"]:
            following = lifecycle.next_repeat(doc, now=now, new_id=new_id())
            if following is not None:
                following["key"] = doc["key"]
                await self._insert([following])
        if doc.get("dependants"):
            await self._release_dependants(doc, doc["dependants"])

    async def _release_dependants(self, doc: Job, dependant_ids: list[str]) -> None:
        """A dependency finished: completed → one dependency fewer; otherwise cancel them."""
        now = self.clock.now()
        reason = f"dependency {doc['id']} {doc['status']}"

        def move(dependant: Job) -> Job:
            if doc["status"] == Status.COMPLETED:
                return lifecycle.dependencies_met(dependant, completed={doc["id"]}, now=now)
            return lifecycle.cancel(
                dependant, by="server", now=now, reason=reason, default_retain=self.retain
            )

        for dependant in await self.store.get_many(dependant_ids):
            if dependant["status"] not in (Status.WAITING, Status.PAUSED):
                continue
            if doc["id"] not in dependant["depends"]:
                continue
            try:
                await self.transition(dependant["id"], move, dependant)
            except (Conflict, NotFound):
                pass


def lifecycle_default_retry() -> dict[str, Any]:
    return {"retries": 0, "wait": 0.0, "backoff": "constant", "max_wait": None}


def _repeat_defaults() -> dict[str, Any]:
    return {"every": None, "cron": None, "tz": None, "times": None, "until": None}


def _log_failure(doc: Job, by: str) -> None:
    """One line per failed attempt, with the job's id, type, worker and the user who failed it
    (the traceback stays in the job: ``livejobs jobs show`` renders it)."""
    failure = (doc.get("failures") or [{}])[-1]
    error = failure.get("error")
    message = f"{error.get('type')}: {error.get('message')}" if isinstance(error, dict) else error
    then = "" if doc["status"] == Status.FAILED else ", will retry"
    log.info(
        "job %s (%s) attempt %s failed%s: %s",
        doc["id"],
        doc["type"],
        failure.get("attempt"),
        then,
        message,
        extra=context(job_id=doc["id"], type=doc["type"], worker=failure.get("worker"), user=by),
    )
