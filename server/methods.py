"""One table: method name → params type and handler. Both edges call ``dispatch_call``.

A handler is a few lines: it receives typed params and a ``Ctx`` (who is calling, the services,
the WebSocket session if any) and calls the job service. Method-level permission is checked
before a handler runs; per-job permission is checked by ``Ctx.job`` once the job is loaded.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from livejobs import params as p
from livejobs.auth import Auth, Identity, bind_worker_id
from livejobs.clock import Clock
from livejobs.credentials import Credentials
from livejobs.errors import Invalid, LivejobsError, NotFound, RateLimited
from livejobs.jobs.model import Job
from livejobs.jobs.service import JobService
from livejobs.permissions import Permissions
from livejobs.query import filter_cost, parse_filter, parse_sort
from livejobs.runtime.connection import Connection as Session
from livejobs.runtime.connection import Worker
from livejobs.runtime.dispatch import Dispatcher
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.settings import Settings
from livejobs.store.base import Store
from livejobs.visibility import HOLDER, check_filter, check_sort, project, view


@dataclass(slots=True)
class Services:
    """Everything a method may use; built once by the app's lifespan."""

    settings: Settings
    store: Store
    clock: Clock
    jobs: JobService
    auth: Auth
    permissions: Permissions
    subscriptions: Subscriptions
    dispatcher: Dispatcher
    credentials: Credentials | None = None  # set by the app's lifespan


@dataclass(slots=True)
class Ctx:
    identity: Identity
    services: Services
    session: Session | None
    method: str
    raw: dict[str, Any]

    async def job(self, job_id: str, method: str | None = None, *, cas: bool = False) -> Job:
        """Load a job and check that this identity may call ``method`` on it.

        ``cas``: the caller only uses the job for a compare-and-set write, so the dispatcher's
        copy of a job it pushed will do (a stale copy just makes the write re-read)."""
        held = self.services.dispatcher.held(job_id) if cas else None
        doc = held or await self.services.store.get(job_id)
        if doc is None or not self.may_read(doc):
            raise NotFound(f"no job {job_id}")  # a job it may not read is one it never heard of
        self.services.permissions.check(self.identity, method or self.method, self.raw, doc)
        return doc

    def may_read(self, doc: Job) -> bool:
        return self.services.permissions.may_read(self.identity, doc)

    def query(self, raw: Any) -> dict[str, Any]:
        """A client's filter, checked against the fields this role may filter on (before any
        job is read, so a refusal reveals nothing), then narrowed to the rows it may read."""
        check_filter(filter := parse_filter(raw), self.identity.role)
        scope = self.services.permissions.read_scope(self.identity)
        if scope is None:
            return filter
        return {"$and": [filter, scope]} if filter else scope

    def need_session(self) -> Session:
        if self.session is None:
            raise Invalid(f"{self.method} needs a WebSocket connection")
        return self.session

    def order(self, raw: Any) -> list[tuple[str, int]]:
        check_sort(sort := parse_sort(raw), self.identity.role)
        return sort

    def show(self, doc: Job) -> Job:
        """The job as this identity may read it (``livejobs.visibility``); a worker's own ids are
        its user name (an HTTP claim's default) and the workers its connection started."""
        mine = self.session.worker_ids() if self.session else []
        return view(doc, self.identity.role, (self.identity.user, *mine), self.identity.user)


Handler = Callable[[Ctx, Any], Awaitable[Any]]
METHODS: dict[str, tuple[type[p.Params], Handler]] = {}


def method(name: str, kind: type[p.Params]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = (kind, fn)
        return fn

    return register


async def dispatch_call(
    services: Services, identity: Identity, name: str, raw: Any, session: Session | None
) -> Any:
    """Permission, params, handler: the single path of every call from every edge."""
    entry = METHODS.get(name)
    if entry is None or name == "auth":
        raise NotFound(f"unknown method {name!r}")
    kind, handler = entry
    if session is not None and session.worker is not None and session.worker.suspect:
        services.dispatcher.heard_from(session.worker)  # any call proves it alive again
    raw_params = raw if isinstance(raw, dict) else {}
    services.permissions.check(identity, name, raw_params)
    params = p.decode_params(raw, kind)
    return await handler(Ctx(identity, services, session, name, raw_params), params)


# -- jobs: create and read ----------------------------------------------------------------


@method("jobs.create", p.CreateJob)
async def create(ctx: Ctx, spec: p.CreateJob) -> Job:
    jobs = ctx.services.jobs
    return ctx.show(await jobs.create(spec, ctx.identity.user, spec.request_id, ctx.may_read))


@method("jobs.create_many", p.CreateMany)
async def create_many(ctx: Ctx, params: p.CreateMany) -> dict[str, list[str]]:
    if len(params.jobs) > ctx.services.settings.max_batch:
        raise RateLimited(f"at most {ctx.services.settings.max_batch} jobs per call")
    for spec in params.jobs:
        ctx.services.permissions.check(ctx.identity, "jobs.create", {"type": spec.type})
    jobs = ctx.services.jobs
    user, request_id = ctx.identity.user, params.request_id
    return {"ids": await jobs.create_many(params.jobs, user, request_id, ctx.may_read)}


@method("jobs.get", p.JobRef)
async def get(ctx: Ctx, params: p.JobRef) -> Job:
    return ctx.show(await ctx.job(params.id))


@method("jobs.find", p.Find)
async def find(ctx: Ctx, params: p.Find) -> list[Job]:
    filter, sort = ctx.query(params.filter), ctx.order(params.sort)
    docs = await ctx.services.store.find(filter, sort, limit=params.limit, skip=params.skip)
    return [ctx.show(doc) for doc in docs]


@method("jobs.counts", p.Counts)
async def counts(ctx: Ctx, params: p.Counts) -> dict[str, dict[str, int]]:
    filter = ctx.query(params.filter)
    store = ctx.services.store
    return {
        "status": await store.count_by("status", filter),
        "type": await store.count_by("type", filter),
    }


# -- jobs: control (one id, or many for managers) ------------------------------------------


async def _control(ctx: Ctx, params: p.JobRefs, action: str) -> Any:
    jobs = ctx.services.jobs
    if (params.id is None) == (params.ids is None):
        raise Invalid("give either 'id' or 'ids'")
    if params.id is not None:
        doc = await ctx.job(params.id)
        result = await jobs.control(action, params.id, ctx.identity.user, doc, params.reason)
        return ctx.show(result) if isinstance(result, dict) else result
    ctx.services.permissions.check_bulk(ctx.identity, ctx.method)
    done: list[str] = []
    errors: dict[str, dict[str, str]] = {}
    for job_id in dict.fromkeys(params.ids or []):
        try:
            doc = await ctx.job(job_id)
            await jobs.control(action, job_id, ctx.identity.user, doc, params.reason)
            done.append(job_id)
        except LivejobsError as exc:
            errors[job_id] = exc.to_dict()
    return {"done": done, "errors": errors}


def _register_control(action: str) -> None:
    async def handler(ctx: Ctx, params: p.JobRefs) -> Any:
        return await _control(ctx, params, action)

    method(f"jobs.{action}", p.JobRefs)(handler)


for _action in ("cancel", "restart", "pause", "resume", "ready", "rerun", "remove"):
    _register_control(_action)


# -- working ------------------------------------------------------------------------------

_worker_numbers = itertools.count(1)


@method("worker.start", p.WorkerStart)
async def worker_start(ctx: Ctx, params: p.WorkerStart) -> dict[str, str]:
    session = ctx.need_session()
    if session.worker is not None:
        raise Invalid("this connection is already a worker; call worker.stop first")
    ctx.services.permissions.check_types(ctx.identity, ctx.method, params.types)
    worker_id = bind_worker_id(ctx.identity.user, params.worker_id or str(next(_worker_numbers)))
    worker = Worker(
        session=session,
        worker_id=worker_id,
        user=ctx.identity.user,
        types=tuple(dict.fromkeys(params.types)),
        concurrency=params.concurrency,
        prefetch=params.prefetch,
        lease=params.lease,
        since=ctx.services.clock.now(),
    )
    ctx.services.dispatcher.add(worker)  # refused while draining
    session.worker = worker
    return {"worker_id": worker_id}


@method("worker.stop", p.Empty)
async def worker_stop(ctx: Ctx, params: p.Empty) -> bool:
    session = ctx.need_session()
    worker, session.worker = session.worker, None
    if worker is not None:
        # running jobs stay leased to it (and are taken back if the socket goes); none are pushed
        ctx.services.dispatcher.retire(worker)
        session.retired_workers.append(worker)
    return True


@method("jobs.claim", p.Claim)
async def claim(ctx: Ctx, params: p.Claim) -> list[Job]:
    ctx.services.permissions.check_types(ctx.identity, ctx.method, params.types)
    ctx.services.dispatcher.check_open()  # no new work on a draining server
    worker_id = bind_worker_id(ctx.identity.user, params.worker_id or ctx.identity.user)
    jobs = await ctx.services.jobs.claim(
        params.types, worker_id, ctx.identity.user, params.limit, params.lease
    )
    return [project(job, HOLDER) for job in jobs]  # the one reply that carries the token


@method("jobs.heartbeat", p.Heartbeat)
async def heartbeat(ctx: Ctx, params: p.Heartbeat) -> dict[str, float]:
    doc = await ctx.job(params.id, cas=True)
    lease = ctx.session.worker.lease if ctx.session and ctx.session.worker else None
    return {"expires": await ctx.services.jobs.heartbeat(params.id, params.lease, lease, doc)}


@method("jobs.log", p.Log)
async def log(ctx: Ctx, params: p.Log) -> bool:
    # without a lease this is a controller's note, which workers may not write
    doc = await ctx.job(params.id, "jobs.log" if params.lease else "jobs.cancel")
    await ctx.services.jobs.log(
        params.id, params.lease, params.message, params.level, params.data, ctx.identity.user, doc
    )
    return True


@method("jobs.progress", p.Progress)
async def progress(ctx: Ctx, params: p.Progress) -> bool:
    doc = await ctx.job(params.id, cas=True)
    await ctx.services.jobs.progress(params.id, params.lease, params.completed, params.total, doc)
    return True


async def _final_report(ctx: Ctx, params: p.Leased) -> Job:
    """The worker is done with the job either way: free its slot now, so the next claim joins
    this report's write in one group commit."""
    doc = await ctx.job(params.id, cas=True)
    ctx.services.dispatcher.finishing(params.id, params.lease)
    return doc


@method("jobs.done", p.Done)
async def done(ctx: Ctx, params: p.Done) -> bool:
    doc = await _final_report(ctx, params)
    await ctx.services.jobs.done(params.id, params.lease, params.result, ctx.identity.user, doc)
    return True


@method("jobs.fail", p.Fail)
async def fail(ctx: Ctx, params: p.Fail) -> bool:
    doc = await _final_report(ctx, params)
    user = ctx.identity.user
    await ctx.services.jobs.fail(params.id, params.lease, params.error, params.fatal, user, doc)
    return True


@method("jobs.snooze", p.Snooze)
async def snooze(ctx: Ctx, params: p.Snooze) -> bool:
    doc = await _final_report(ctx, params)
    await ctx.services.jobs.snooze(params.id, params.lease, params.seconds, ctx.identity.user, doc)
    return True


@method("workers.list", p.Empty)
async def workers_list(ctx: Ctx, params: p.Empty) -> list[dict[str, object]]:
    return [w.describe() for w in ctx.services.dispatcher.workers]


# -- live ---------------------------------------------------------------------------------


@method("subscribe", p.Subscribe)
async def subscribe(ctx: Ctx, params: p.Subscribe) -> dict[str, str]:
    session = ctx.need_session()
    if len(session.subscriptions) >= ctx.services.settings.max_subscriptions:
        raise RateLimited(f"at most {ctx.services.settings.max_subscriptions} subscriptions")
    sub_id = f"s{next(_sub_numbers)}"
    filter = ctx.query(params.filter)
    cost = filter_cost(parse_filter(params.filter))  # the client's own, not the role's scope
    subscriptions, settings = ctx.services.subscriptions, ctx.services.settings
    subscriptions.admit(session, ctx.identity.user, ctx.identity.role, filter, cost, settings)
    # documents follow the reply: the snapshot starts once this result is queued
    subscriptions.open(session, sub_id, filter, ctx.identity.role, cost)
    return {"sub": sub_id}


_sub_numbers = itertools.count(1)


@method("unsubscribe", p.Unsubscribe)
async def unsubscribe(ctx: Ctx, params: p.Unsubscribe) -> bool:
    session = ctx.need_session()
    sub = session.subscriptions.get(params.sub)
    if sub is None:
        raise NotFound(f"no subscription {params.sub}")
    ctx.services.subscriptions.close(sub)
    return True


# -- flow control per type -----------------------------------------------------------------


async def _set_rules(ctx: Ctx, job_type: str, **changes: Any) -> dict[str, Any]:
    flow = ctx.services.jobs.flow
    rules = replace(await flow.stored(job_type), **changes)
    result = await flow.set_rules(job_type, rules)
    ctx.services.dispatcher.type_changed(job_type)
    return result


@method("types.set_limits", p.TypeLimits)
async def types_set_limits(ctx: Ctx, params: p.TypeLimits) -> dict[str, Any]:
    if (params.rate_limit is None) != (params.rate_per is None):
        raise Invalid("give rate_limit and rate_per together (e.g. 100 per 60 seconds)")
    return await _set_rules(
        ctx,
        params.type,
        rate_limit=params.rate_limit,
        rate_per=params.rate_per,
        concurrency=params.concurrency,
    )


@method("types.pause", p.TypeRef)
async def types_pause(ctx: Ctx, params: p.TypeRef) -> dict[str, Any]:
    return await _set_rules(ctx, params.type, paused=True)


@method("types.resume", p.TypeRef)
async def types_resume(ctx: Ctx, params: p.TypeRef) -> dict[str, Any]:
    return await _set_rules(ctx, params.type, paused=False)


@method("types.list", p.Empty)
async def types_list(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    return await ctx.services.jobs.flow.describe()


@method("types.watch", p.Empty)
async def types_watch(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    """``types.list``, then a ``types`` frame with the whole list whenever any server changes
    a type's rules, for as long as the connection lasts."""
    ctx.need_session().watching_types = True
    return await ctx.services.jobs.flow.describe()


# -- users and tokens: ``livejobs.methods_admin`` (registered on import) ----------------------

from livejobs import methods_admin  # noqa: E402, F401
