"""Creating jobs: a spec becomes a document (``build``), checked against its dependencies,
inserted once per ``request_id``, merged into a pending job with the same key (debounce)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from livejobs.errors import Conflict, Invalid, NotFound, TooLarge
from livejobs.jobs import bounds, lifecycle, schedule
from livejobs.jobs.model import FINISHED, Job, Status, blank_job, priority_value
from livejobs.service.core import CAS_ATTEMPTS, JobCore, Visible
from livejobs.store.base import CreateRequest

log = logging.getLogger(__name__)

DEFAULT_RETRY: dict[str, Any] = {"retries": 0, "wait": 0.0, "backoff": "constant", "max_wait": None}
REPEAT_DEFAULTS: dict[str, Any] = {
    "every": None,
    "cron": None,
    "tz": None,
    "times": None,
    "until": None,
    "fixed": False,
}


@dataclass(frozen=True, slots=True)
class Debounce:
    """Saves with the same key merge; the job waits ``seconds`` after the last, at most
    ``max_wait`` after the first."""

    seconds: float
    max_wait: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """A job to create, as its creator asked for it (checked for types and bounds by the edge:
    ``livejobs.params.JobSpec``); ``retry`` and ``repeat`` name only what differs from the
    defaults. The service fills in the rest of the document."""

    type: str
    data: Any = None
    priority: int | str = 0
    retry: dict[str, Any] | None = None
    delay: float | None = None
    after: float | None = None
    repeat: dict[str, Any] | None = None
    depends: Sequence[str] = ()
    key: str | None = None
    expire: float | None = None
    target: str | None = None
    exclude: Sequence[str] = ()
    retain: float | None = None
    #: when it finishes: how many of its owner's newest jobs of its type and that status stay
    keep: dict[str, int] | None = None
    private: Any = None
    #: the W3C trace context of the request that created it (``traceparent``, ``tracestate``)
    trace: dict[str, str] | None = None
    debounce: Debounce | None = None
    lifo: bool = False
    #: with ``key``: seconds the key still blocks new jobs after its job finished
    unique_for: float | None = None
    time_limit: float | None = None
    group: str | None = None


def reschedule(doc: Job, new: Job, by: str, now: float) -> Job:
    """``doc`` with ``new``'s schedule (pure): the upsert of a repeating job by key."""
    if doc["status"] in FINISHED:
        raise Conflict(f"job {doc['id']} with key {doc['key']!r} has finished")
    out = lifecycle.log(
        doc, lease_token=None, message="schedule replaced", level="info", data=None, by=by, now=now
    )
    run = int((doc.get("repeat") or {}).get("run", 1))
    out.update(repeat={**new["repeat"], "run": run}, data=new["data"], priority=new["priority"])
    out["retry"] = dict(new["retry"])
    if doc["status"] in (Status.WAITING, Status.READY, Status.PAUSED):
        out["after"] = new["after"]
    return lifecycle.settle(out, now, None)


class Creating(JobCore):
    """The create half of ``JobService``."""

    def build(self, spec: NewJob, owner: str) -> Job:
        """A complete document from a checked spec (no I/O)."""
        now = self.clock.now()
        size = len(msgspec.json.encode(spec.data)) + len(msgspec.json.encode(spec.private))
        if size > self.max_data:
            raise TooLarge(f"job data is {size} bytes; the limit is {self.max_data}")
        doc = blank_job(spec.type, spec.data, owner=owner, now=now)
        try:
            doc["priority"] = priority_value(spec.priority)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        rules = self.flow.rules(spec.type)
        retry = spec.retry
        if retry is None:  # the type's default, else the server's
            retry = rules.retry if rules.retry is not None else self.default_retry
        if retry is not None:
            doc["retry"] = {**DEFAULT_RETRY, **retry}
        if spec.delay is not None and spec.after is not None:
            raise Invalid("give either 'delay' or 'after', not both")
        doc["after"] = now + spec.delay if spec.delay is not None else max(spec.after or now, now)
        if spec.repeat is not None:
            repeat = {**REPEAT_DEFAULTS, **spec.repeat}
            schedule.validate(repeat, now=now, min_seconds=self.min_repeat)
            repeat["run"] = 1
            doc["repeat"] = repeat
            if repeat["cron"] is not None and spec.delay is None and spec.after is None:
                # the first run is the next matching time, never "immediately"
                doc["after"] = schedule.next_time(repeat, after=now)
            if repeat["fixed"]:
                repeat["anchor"] = doc["after"]  # the grid of its steps
        doc["depends"] = list(dict.fromkeys(spec.depends))
        doc["key"] = spec.key
        doc["expire_at"] = now + spec.expire if spec.expire is not None else None
        doc["target"] = spec.target
        doc["exclude"] = list(spec.exclude)
        doc["retain"] = spec.retain
        doc["keep"] = spec.keep or None
        doc["lifo"] = spec.lifo
        if spec.unique_for is not None and spec.key is None:
            raise Invalid("unique_for needs a key: it is how long the key blocks new jobs")
        doc["unique_for"] = spec.unique_for
        doc["private"] = spec.private
        doc["trace"] = spec.trace
        time_limit = spec.time_limit if spec.time_limit is not None else rules.time_limit
        doc["time_limit"], doc["group"] = time_limit, spec.group
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
        return lifecycle.settle(doc, now, self.retain_for(doc["type"]))

    async def create(
        self,
        spec: NewJob,
        owner: str,
        request_id: str | None = None,
        may_see: Visible | None = None,
    ) -> Job:
        doc = self.build(spec, owner)
        if doc["unique_for"] is not None and (held := await self._finished_holder(doc)):
            return held
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
        elif stored["id"] != doc["id"] and doc["repeat"]:
            saved = await self._reschedule(stored, doc, owner)
            if request is not None and saved["id"] != stored["id"]:
                await self._amend(request, [saved["id"]])
            return saved
        return stored

    async def _amend(self, request: CreateRequest, job_ids: list[str]) -> None:
        """A retry of this create answers ``job_ids``, as the create did. The create stands if
        the store fails here: a retry then answers with the jobs its insert met."""
        try:
            await self.store.amend_answer(request, job_ids)
        except Exception:  # noqa: BLE001 - the save is stored; only a retry's answer is older
            log.warning("request %r keeps its first answer", request.id, exc_info=True)

    def _request(self, owner: str, request_id: str | None) -> CreateRequest | None:
        if request_id is None:
            return None
        now = self.clock.now()
        return CreateRequest(owner, request_id, now, now + self.request_seconds)

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
            return lifecycle.settle(out, now, self.retain_for(out["type"]))

        try:
            return await self.transition(pending["id"], merge, pending)
        except Conflict:
            return pending

    async def _reschedule(self, held: Job, new: Job, by: str) -> Job:
        """A repeating job saved again under the key of an unfinished job: the new schedule,
        data and priority replace the held job's (BullMQ's ``upsertJobScheduler``); a job
        not started yet also takes the new first run time. When the held job finishes first,
        the save goes to its next run, or, while there is none, becomes the schedule itself
        (the next run its finish owes then meets the key and is not made)."""
        for _ in range(CAS_ATTEMPTS):
            try:
                return await self.transition(
                    held["id"], lambda doc: reschedule(doc, new, by, self.clock.now()), held
                )
            except Conflict:
                pass  # it finished meanwhile
            [held] = await self._insert([new])
            if held["id"] == new["id"]:
                return held
        raise Conflict(f"the schedule with key {new['key']!r} is changing too fast; try again")

    async def create_many(
        self,
        specs: list[NewJob],
        owner: str,
        request_id: str | None = None,
        may_see: Visible | None = None,
        then: NewJob | None = None,
    ) -> list[str]:
        """Insert ``specs`` together; ``then``: a fan-in job, last, that depends on them all."""
        built = [self.build(spec, owner) for spec in specs]
        held = {
            i: found
            for i, doc in enumerate(built)
            if doc["unique_for"] is not None and (found := await self._finished_holder(doc))
        }
        # keys still blocked by a job that finished lately: that job is the answer (a fan-in
        # refuses keyed jobs below)
        if held and then is None:
            ids = (
                await self.create_many(
                    [s for i, s in enumerate(specs) if i not in held], owner, request_id, may_see
                )
                if len(held) < len(specs)
                else []
            )
            rest = iter(ids)
            return [held[i]["id"] if i in held else next(rest) for i in range(len(specs))]
        docs = built
        if then is not None:
            docs.append(self.build(then, owner))
        if any(doc["depends"] for doc in docs):
            for doc in docs:
                if doc["depends"]:
                    await self._check_dependencies(doc, may_see)
        if then is not None:
            self._fan_in(docs[:-1], docs[-1])
        request = self._request(owner, request_id)
        stored = await self._insert(docs, request)
        if request is not None and request.replayed:
            return [doc["id"] for doc in stored]
        ids = [doc["id"] for doc in stored]
        for i, (doc, kept) in enumerate(zip(docs, stored, strict=True)):
            if doc["depends"] and kept["id"] == doc["id"]:
                await self._link_dependencies(kept)
            elif kept["id"] != doc["id"] and doc.get("debounce") and kept.get("debounce"):
                await self._debounce(kept, doc, owner)  # a batch debounces as single saves do
            elif kept["id"] != doc["id"] and doc["repeat"]:
                ids[i] = (await self._reschedule(kept, doc, owner))["id"]
        if request is not None and ids != [doc["id"] for doc in stored]:
            await self._amend(request, ids)
        return ids

    def _fan_in(self, jobs: list[Job], then: Job) -> None:
        """``then`` waits for all of ``jobs`` (new in the same insert: none has finished)."""
        if any(doc["key"] is not None for doc in jobs):
            raise Invalid("the jobs of a fan-in take no key: each must be a new job")
        if then["status"] == Status.CANCELLED:
            return  # one of its own dependencies already failed
        then["depends"] = list(dict.fromkeys([*then["depends"], *(d["id"] for d in jobs)]))
        then["status"] = Status.WAITING.value
        lifecycle.settle(then, self.clock.now(), self.retain)

    async def _finished_holder(self, doc: Job) -> Job | None:
        """The owner's latest job with ``doc``'s key that finished within ``doc["unique_for"]``
        seconds (Oban's unique period) and still holds the key, unless an unfinished one holds
        it: the store's insert finds that one atomically. Runs only for ``unique_for``."""
        since = self.clock.now() - float(doc["unique_for"])
        held = {"$or": [{"finished": None}, {"finished": {"$gte": since}}]}
        found = await self.store.find(
            {"key": doc["key"], "owner": doc["owner"], **held}, (("created", -1),), limit=10
        )
        if not found or any(d["status"] not in FINISHED for d in found):
            return None  # unfinished: the insert returns it (and debounces or reschedules)
        return max(found, key=lambda d: float(d["finished"]))

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
                doc["results"][dep["id"]] = dep["result"]
            elif dep["status"] in (Status.FAILED, Status.CANCELLED):
                doc.update(status=Status.CANCELLED.value, finished=now)
                doc["reason"] = f"dependency {dep['id']} {dep['status']}"
        lifecycle.settle(doc, now, self.retain_for(doc["type"]))
        if doc["status"] == Status.CANCELLED:
            doc["due"] = lifecycle.due_at(doc, self.retain_for(doc["type"]))

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
