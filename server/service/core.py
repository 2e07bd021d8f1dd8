"""The core of ``JobService``: reads, the compare-and-set loop, control actions, what follows
a finish, and the scheduler's timer (``on_due``). ``create`` and ``work`` build on it."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from livejobs.clock import Clock
from livejobs.errors import Conflict, NotFound, Unavailable
from livejobs.jobs import bounds, followups, lifecycle, queued, repeats, timelimit
from livejobs.jobs.bounds import DocLimits
from livejobs.jobs.flow import FlowControl
from livejobs.jobs.model import FINISHED, QUEUED, Job, Status, new_id
from livejobs.logs import context
from livejobs.service import ruled_counts
from livejobs.store.base import CreateRequest, Filter, Sort, Store

Transition = Callable[[Job], Job]
#: told of every write this server made: (the status before, or None for a new job; the job)
Wrote = Callable[[str | None, Job], None]
#: whether the caller may know a job exists (``Ctx.may_read``)
Visible = Callable[[Job], bool]
CAS_ATTEMPTS = 5
#: what a job's owner or a manager may do to it (``JobService.control``): one method each
ACTIONS = (
    *("cancel", "restart", "pause", "resume", "ready", "rerun", "remove"),
    *("set_priority", "set_delay"),
)


log = logging.getLogger("livejobs.jobs")

#: the failure the server records when a lease runs out; the dispatcher knows a frozen worker by it
LEASE_EXPIRED = "lease expired: worker lost"


class JobCore:
    """State and the operations every other part of the service builds on."""

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
        default_retry: dict[str, Any] | None = None,
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
        #: the retry policy of jobs created without one, when their type has none
        self.default_retry = default_retry
        #: called with the documents of every insert just before it is queued (see ``_insert``)
        self.inserting: list[Callable[[list[Job]], None]] = []
        #: called after every write this server committed (``runtime.history`` counts them)
        self.wrote: list[Wrote] = []

    def _wrote(self, before: str | None, docs: list[Job]) -> None:
        for hook in self.wrote:
            for doc in docs:
                hook(before, doc)

    def retain_for(self, job_type: str) -> float | None:
        """Seconds a finished job of ``job_type`` is kept: its type's rule, else the server's."""
        typed = self.flow.retain_of(job_type)
        return typed if typed is not None else self.retain

    async def _insert(self, docs: list[Job], request: CreateRequest | None = None) -> list[Job]:
        """Insert, telling the ``inserting`` hooks first, with no await in between: on a store
        with ordered writes, a claim they queue for a ready job joins the insert's commit.
        (A replayed request inserts nothing: a claim the hooks queued finds nothing new.)"""
        for hook in self.inserting:
            hook(docs)
        stored = await self.store.insert(docs, request)
        if self.wrote and not (request is not None and request.replayed):
            ids = {doc["id"] for doc in docs}  # not a job its key or request answered with
            self._wrote(None, [doc for doc in stored if doc["id"] in ids])
        return stored

    # -- reading -------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        doc = await self.store.get(job_id)
        if doc is None:
            raise NotFound(f"no job {job_id}")
        return doc

    async def lookup(self, job_id: str) -> Job | None:
        """The job, or None: the caller decides what a missing job means."""
        return await self.store.get(job_id)

    async def find(self, filter: Filter, sort: Sort, *, limit: int, skip: int) -> list[Job]:
        """Jobs matching an already checked and scoped filter (``livejobs.query``)."""
        return await self.store.find(filter, sort, limit=limit, skip=skip)

    async def counts(
        self, filter: Filter, reader: Callable[[Job], bool] | None = None
    ) -> dict[str, Any]:
        """How many jobs match, per status and per type; with ``reader`` (a callable read
        rule), of those it passes (``ruled_counts``)."""
        if reader is not None:
            counts = await ruled_counts.count(self.store, filter, reader)
            del counts["by_type"]
            return counts
        return {
            "status": await self.store.count_by("status", filter),
            "type": await self.store.count_by("type", filter),
        }

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
            finishing = new["status"] in FINISHED and current["status"] not in FINISHED
            if finishing:
                followups.owe(new, next_id=new_id)
            if await self.store.replace(new, current["version"], previous=current):
                self._wrote(current["status"], [new])
                if finishing:
                    await self._pay_followups_now(new)
                return new
        raise Conflict(f"job {job_id} is changing too fast; try again")

    async def control(
        self,
        action: str,
        job_id: str,
        by: str,
        doc: Job | None = None,
        reason: str | None = None,
        *,
        follow: Visible | None = None,
        force: bool = False,
        priority: int = 0,
        after: float = 0.0,
    ) -> Any:
        """The manager/creator actions: cancel, restart, pause, resume, ready, rerun, remove,
        set_priority (to ``priority``), set_delay (to run at ``after``).

        ``follow``: a restart also revives the dependants its failure cancelled, a cancel also
        cancels the unfinished jobs it depends on: those ``follow`` allows. ``force``: a ready
        job no longer waits for its dependencies."""
        result = await self._control(action, job_id, by, doc, reason, force, priority, after)
        if follow is not None and action == "restart":
            await self._revive_dependants(result, by, follow)
        elif follow is not None and action == "cancel":
            await self._cancel_antecedents(result, by, reason, follow)
        return result

    async def _control(
        self,
        action: str,
        job_id: str,
        by: str,
        doc: Job | None,
        reason: str | None,
        force: bool,
        priority: int,
        after: float,
    ) -> Any:
        now = self.clock.now
        if action == "remove":
            return await self.remove(job_id, doc)
        if action == "rerun":
            source = doc or await self.get(job_id)
            copy = repeats.rerun_copy(source, by=by, now=now(), new_id=new_id())
            return (await self._insert([copy]))[0]
        moves: dict[str, Transition] = {
            "cancel": self._cancelling(by, reason or "cancelled"),
            "restart": lambda d: lifecycle.restart(d, by=by, now=now()),
            "pause": lambda d: lifecycle.pause(d, by=by, now=now()),
            "resume": lambda d: lifecycle.resume(d, by=by, now=now()),
            "ready": lambda d: lifecycle.ready_now(d, by=by, now=now(), force=force),
            "set_priority": lambda d: queued.set_priority(d, priority, by=by, now=now()),
            "set_delay": lambda d: queued.set_delay(d, after, by=by, now=now()),
        }
        return await self.transition(job_id, moves[action], doc)

    def _cancelling(self, by: str, reason: str, queued_only: bool = False) -> Transition:
        def cancel(doc: Job) -> Job:
            if queued_only and doc["status"] not in QUEUED:
                raise Conflict(f"job {doc['id']} is {doc['status']}, no longer queued")
            retain = self.retain_for(doc["type"])
            return lifecycle.cancel(
                doc, by=by, now=self.clock.now(), reason=reason, default_retain=retain
            )

        return cancel

    async def _revive_dependants(self, doc: Job, by: str, follow: Visible) -> None:
        """``restart(dependents=True)``: the dependants (and theirs, in turn) that this job's
        failure cancelled wait for it again."""
        for dependant in await self.store.get_many(doc.get("dependants") or []):
            if not follow(dependant) or dependant["status"] != Status.CANCELLED:
                continue
            deps = await self.store.get_many(dependant["depends"])
            if any(d["status"] in (Status.FAILED, Status.CANCELLED) for d in deps):
                continue  # another dependency still fails it
            completed = {d["id"] for d in deps if d["status"] == Status.COMPLETED}
            now = self.clock.now()
            try:
                move = functools.partial(
                    lifecycle.revive, dependency=doc["id"], completed=completed, by=by, now=now
                )
                revived = await self.transition(dependant["id"], move, dependant)
            except (Conflict, NotFound):
                continue
            await self._revive_dependants(revived, by, follow)

    async def _cancel_antecedents(
        self, doc: Job, by: str, reason: str | None, follow: Visible
    ) -> None:
        """``cancel(antecedents=True)``: the unfinished jobs it depends on (and theirs)."""
        for dep in await self.store.get_many(doc["depends"]):
            if not follow(dep) or dep["status"] in FINISHED:
                continue
            try:
                cancelled = await self.control("cancel", dep["id"], by, dep, reason)
            except (Conflict, NotFound):
                continue
            await self._cancel_antecedents(cancelled, by, reason, follow)

    async def remove(self, job_id: str, doc: Job | None = None) -> bool:
        current = doc or await self.get(job_id)
        if current["status"] not in FINISHED:
            raise Conflict(
                f"cannot remove job {job_id}: it is {current['status']}; cancel it first"
            )
        if not await self.store.delete(job_id, current["version"]):
            raise Conflict(f"job {job_id} changed while being removed; try again")
        return True

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
                await self.transition(
                    doc["id"],
                    lambda d: lifecycle.expire(
                        d, now=now, default_retain=self.retain_for(d["type"])
                    ),
                    doc,
                )
            elif status == Status.WAITING:
                await self.transition(doc["id"], lambda d: lifecycle.promote(d, now=now), doc)
            elif status == Status.RUNNING:
                over = timelimit.over_time(doc, now)
                failed = await self.transition(
                    doc["id"],
                    lambda d: lifecycle.fail(
                        d,
                        error=timelimit.error(d) if over else LEASE_EXPIRED,
                        by="server",
                        now=now,
                        reason="time limit" if over else "worker lost",
                        default_retain=self.retain_for(d["type"]),
                    ),
                    doc,
                )
                log_failure(failed, "server")
            elif status in FINISHED and followups.owed(doc):
                await self._pay_followups(doc)  # the server that finished it did not
            elif status in FINISHED:
                await self.store.delete(doc["id"], doc["version"])
            else:
                await self.transition(doc["id"], self._clear_due, doc)
        except (Conflict, NotFound):
            pass  # someone else moved it first; the store's next_due reflects that

    def _clear_due(self, doc: Job) -> Job:
        new = dict(doc, version=doc["version"] + 1, due=None)
        return new

    # -- what follows a finish -------------------------------------------------------------

    async def _pay_followups(self, doc: Job) -> None:
        """What ``doc``'s finish owes (``livejobs.jobs.followups``): a repeating job's next run,
        its dependants released or cancelled; then the debt is cleared. Each may run twice."""
        owed = doc.get("followups")
        if not owed:
            return
        if owed["next"] is not None:
            following = repeats.next_repeat(doc, now=self.clock.now(), new_id=owed["next"])
            if following is not None:
                following["key"] = doc["key"]
                with contextlib.suppress(Conflict):  # paid before: the next run exists
                    await self._insert([following])
        if doc["dependants"]:
            await self._release_dependants(doc, doc["dependants"])
        with contextlib.suppress(Conflict, NotFound):  # paid, or removed, meanwhile
            await self.transition(doc["id"], self._paid, doc)

    async def _pay_followups_now(self, doc: Job) -> None:
        """Pay at once what a finish owes; if the store fails meanwhile, the finish stands (it is
        stored, and its caller is told so) and the debt, recorded with it, is the timer's."""
        try:
            await self._pay_followups(doc)
        except Unavailable as exc:
            log.warning(
                "what job %s's finish owes waits for the timer: %s",
                doc["id"],
                exc,
                extra=context(job_id=doc["id"], type=doc["type"]),
            )

    def _paid(self, doc: Job) -> Job:
        if not followups.owed(doc):
            raise Conflict(f"job {doc['id']} owes nothing")
        return followups.paid(doc, self.retain_for(doc["type"]))

    async def _release_dependants(self, doc: Job, dependant_ids: list[str]) -> None:
        """A dependency finished: completed → one dependency fewer; otherwise cancel them."""
        now = self.clock.now()
        reason = f"dependency {doc['id']} {doc['status']}"

        def move(dependant: Job) -> Job:
            if doc["status"] == Status.COMPLETED:
                return lifecycle.dependencies_met(
                    dependant, completed={doc["id"]}, now=now, results={doc["id"]: doc["result"]}
                )
            return lifecycle.cancel(
                dependant,
                by="server",
                now=now,
                reason=reason,
                default_retain=self.retain_for(dependant["type"]),
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


def log_failure(doc: Job, by: str) -> None:
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
