"""The handlers of the job, worker and live methods (``livejobs.methods`` lists them).

A handler is a few lines: it receives typed params and a ``Ctx`` (who is calling, the services,
the WebSocket session if any), turns the params into domain values and calls the job service.
Method-level permission is checked before a handler runs; per-job permission is checked by
``Ctx.job`` once the job is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import msgspec

from livejobs import params as p
from livejobs.auth import bind_worker_id
from livejobs.context import Ctx, Handler
from livejobs.errors import Invalid, LivejobsError, NotFound, RateLimited
from livejobs.jobs.model import UNFINISHED, Job, priority_value
from livejobs.query import filter_cost, parse_filter
from livejobs.runtime.connection import Worker
from livejobs.runtime.windows import Window, counts_key, window_key
from livejobs.service import Debounce, NewJob
from livejobs.visibility import HOLDER, project

#: at most this many schedules are listed
SCHEDULES = 10_000

# -- jobs: create and read ----------------------------------------------------------------


def new_job(spec: p.JobSpec) -> NewJob:
    """A create's params as the service takes them: ``retry`` and ``repeat`` keep only what
    the caller gave (their defaults are the service's)."""
    return NewJob(
        type=spec.type,
        data=spec.data,
        priority=spec.priority,
        retry=msgspec.to_builtins(spec.retry) if spec.retry is not None else None,
        delay=spec.delay,
        after=spec.after,
        repeat=msgspec.to_builtins(spec.repeat) if spec.repeat is not None else None,
        depends=spec.depends,
        key=spec.key,
        expire=spec.expire,
        target=spec.target,
        exclude=spec.exclude,
        retain=spec.retain,
        keep={str(status): n for status, n in spec.keep.items()} if spec.keep else None,
        private=spec.private,
        trace=None if spec.trace is None else msgspec.to_builtins(spec.trace),
        time_limit=spec.time_limit,
        group=spec.group,
        debounce=Debounce(spec.debounce.seconds, spec.debounce.max_wait)
        if spec.debounce is not None
        else None,
        lifo=spec.lifo,
        unique_for=spec.unique_for,
    )


async def create(ctx: Ctx, spec: p.CreateJob) -> Job:
    jobs, user = ctx.services.jobs, ctx.identity.user
    return ctx.show(await jobs.create(new_job(spec), user, spec.request_id, ctx.may_read))


async def create_many(ctx: Ctx, params: p.CreateMany) -> dict[str, list[str]]:
    if len(params.jobs) > ctx.services.settings.max_batch:
        raise RateLimited(f"at most {ctx.services.settings.max_batch} jobs per call")
    then = [] if params.then is None else [params.then]
    # each job as a ``jobs.create`` of its own params: a rule on a create's data holds here too
    raw_then = [] if params.then is None else [ctx.raw["then"]]
    for raw_spec in [*ctx.raw["jobs"], *raw_then]:
        ctx.services.permissions.check(ctx.identity, "jobs.create", raw_spec)
    jobs, specs = ctx.services.jobs, [new_job(spec) for spec in params.jobs]
    user, request_id = ctx.identity.user, params.request_id
    fan_in = new_job(then[0]) if then else None
    return {"ids": await jobs.create_many(specs, user, request_id, ctx.may_read, then=fan_in)}


async def get(ctx: Ctx, params: p.JobRef) -> Job:
    return ctx.show(await ctx.job(params.id))


async def find(ctx: Ctx, params: p.Find) -> list[Job]:
    filter, sort = ctx.query(params.filter), ctx.order(params.sort)
    async with ctx.services.reads.turn(ctx.identity.user):
        docs = await ctx.services.jobs.find(filter, sort, limit=params.limit, skip=params.skip)
    if ctx.services.permissions.rules.deny:  # a callable rule on jobs.get narrows this too
        docs = [doc for doc in docs if ctx.may_read(doc)]
    return [ctx.show(doc) for doc in docs]


async def counts(ctx: Ctx, params: p.Counts) -> dict[str, Any]:
    filter, reader = ctx.query(params.filter), ctx.services.permissions.reader(ctx.identity)
    async with ctx.services.reads.turn(ctx.identity.user):
        return await ctx.services.jobs.counts(filter, reader)


# -- jobs: control (one id, or many for managers) ------------------------------------------


def _may_follow(ctx: Ctx) -> Callable[[Job], bool]:
    """Whether a control call may also act on a related job: it must be one the caller may
    read and call the same method on."""

    def may(doc: Job) -> bool:
        try:
            ctx.services.permissions.check(ctx.identity, ctx.method, ctx.raw, doc)
        except LivejobsError:
            return False
        return ctx.may_read(doc)

    return may


def _options(ctx: Ctx, params: p.JobRefs) -> dict[str, Any]:
    """The options of cancel, restart, ready, set_priority and set_delay, as
    ``JobService.control`` takes them (checked before any job is read)."""
    follow = getattr(params, "antecedents", False) or getattr(params, "dependents", False)
    options = {
        "follow": _may_follow(ctx) if follow else None,
        "force": getattr(params, "force", False),
    }
    if isinstance(params, p.PriorityRefs):
        try:
            options["priority"] = priority_value(params.priority)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    elif isinstance(params, p.DelayRefs):
        if (params.delay is None) == (params.after is None):
            raise Invalid("give either 'delay' (seconds from now) or 'after' (a Unix time)")
        now = ctx.services.jobs.clock.now()
        options["after"] = now + params.delay if params.delay is not None else params.after
    return options


async def _control(ctx: Ctx, params: p.JobRefs, action: str) -> Any:
    jobs, options = ctx.services.jobs, _options(ctx, params)
    if (params.id is None) == (params.ids is None):
        raise Invalid("give either 'id' or 'ids'")
    if params.id is not None:
        doc = await ctx.job(params.id)
        user = ctx.identity.user
        result = await jobs.control(action, params.id, user, doc, params.reason, **options)
        return ctx.show(result) if isinstance(result, dict) else result
    ctx.services.permissions.check_bulk(ctx.identity, ctx.method)
    done: list[str] = []
    errors: dict[str, dict[str, str]] = {}
    for job_id in dict.fromkeys(params.ids or []):
        try:
            doc = await ctx.job(job_id)
            await jobs.control(action, job_id, ctx.identity.user, doc, params.reason, **options)
            done.append(job_id)
        except LivejobsError as exc:
            errors[job_id] = exc.to_dict()
    return {"done": done, "errors": errors}


async def clean(ctx: Ctx, params: p.Clean) -> dict[str, int]:
    """Remove finished jobs by filter; each removal reaches subscribers as ``removed``. A job
    is removed only if this caller may both clean and remove it: a deny rule on
    ``jobs.remove`` holds here too."""
    ctx.services.permissions.check_bulk(ctx.identity, ctx.method)
    may = ctx.may_all(ctx.method, "jobs.remove")
    filter = ctx.query(params.filter)
    return {"removed": await ctx.services.jobs.clean(filter, params.limit, may)}


async def drain(ctx: Ctx, params: p.Drain) -> dict[str, int]:
    """Cancel the queued jobs matching a filter, running ones untouched (BullMQ's ``drain``,
    Celery's ``purge``); each reaches subscribers as ``changed``. A job is cancelled only if
    this caller may both drain and cancel it: a deny rule on ``jobs.cancel`` holds here too."""
    ctx.services.permissions.check_bulk(ctx.identity, ctx.method)
    may = ctx.may_all(ctx.method, "jobs.cancel")
    filter = ctx.query(params.filter)
    user = ctx.identity.user
    drained = await ctx.services.jobs.drain(filter, user, params.reason, params.limit, may)
    return {"cancelled": drained}


async def schedules_list(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    """The unfinished repeating jobs this caller may read, the next run first."""
    scope = ctx.services.permissions.read_scope(ctx.identity, ctx.method)
    repeating = {"repeat": {"$ne": None}, "status": {"$in": sorted(UNFINISHED)}}
    filter = {"$and": [repeating, scope]} if scope else repeating
    async with ctx.services.reads.turn(ctx.identity.user):
        docs = await ctx.services.jobs.find(filter, (("after", 1),), limit=SCHEDULES, skip=0)
    if ctx.services.permissions.rules.deny:  # a callable rule on jobs.get narrows this too
        docs = [doc for doc in docs if ctx.may_read(doc)]
    fields = ("id", "key", "type", "repeat", "status", "owner")
    return [{"next": d.get("after"), **{f: d.get(f) for f in fields}} for d in map(ctx.show, docs)]


def control(action: str) -> Handler:
    """The handler of ``jobs.<action>``, one of ``JobService.control``'s actions."""

    async def handler(ctx: Ctx, params: p.JobRefs) -> Any:
        return await _control(ctx, params, action)

    handler.__name__ = f"jobs_{action}"
    return handler


# -- working ------------------------------------------------------------------------------

_worker_numbers = itertools.count(1)


async def worker_start(ctx: Ctx, params: p.WorkerStart) -> dict[str, str]:
    session = ctx.need_session()
    if session.worker is not None:
        raise Invalid("this connection is already a worker; call worker.stop first")
    ctx.services.permissions.check_types(ctx.identity, ctx.method, params.types)
    # the jobs pushed to a worker are claims: a rule on ``jobs.claim`` holds for them too
    ctx.services.permissions.check(ctx.identity, "jobs.claim", {"types": params.types})
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
        resting=params.paused,
    )
    ctx.services.dispatcher.add(worker)  # refused while draining
    session.worker = worker
    return {"worker_id": worker_id}


async def worker_stop(ctx: Ctx, params: p.Empty) -> bool:
    session = ctx.need_session()
    worker, session.worker = session.worker, None
    if worker is not None:
        # running jobs stay leased to it (and are taken back if the socket goes); none are pushed
        ctx.services.dispatcher.retire(worker)
        session.retired_workers.append(worker)
    return True


async def worker_pause(ctx: Ctx, params: p.Empty) -> bool:
    """Push this worker nothing more until ``worker.resume``; its running jobs go on."""
    return _rest(ctx, True)


async def worker_resume(ctx: Ctx, params: p.Empty) -> bool:
    return _rest(ctx, False)


def _rest(ctx: Ctx, resting: bool) -> bool:
    worker = ctx.need_session().worker
    if worker is None:
        raise Invalid("this connection is not a worker; call worker.start first")
    ctx.services.dispatcher.rest(worker, resting)
    return True


async def claim(ctx: Ctx, params: p.Claim) -> list[Job]:
    ctx.services.permissions.check_types(ctx.identity, ctx.method, params.types)
    ctx.services.dispatcher.check_open()  # no new work on a draining server
    worker_id = bind_worker_id(ctx.identity.user, params.worker_id or ctx.identity.user)
    dispatcher, loop = ctx.services.dispatcher, asyncio.get_running_loop()
    deadline = loop.time() + params.wait
    with dispatcher.watching(params.types) as waiter:  # woken by the push path, not polling
        while True:
            jobs = await ctx.services.jobs.claim(
                params.types, worker_id, ctx.identity.user, params.limit, params.lease
            )
            if jobs or (left := deadline - loop.time()) <= 0:
                return [project(job, HOLDER) for job in jobs]  # the one reply with the token
            await dispatcher.claimed_short(params.types)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.event.wait(), left)
            dispatcher.check_open()
            waiter.arm()  # before the claim: a job made ready meanwhile wakes it again


async def heartbeat(ctx: Ctx, params: p.Heartbeat) -> dict[str, float]:
    doc = await ctx.job(params.id, cas=True)
    lease = ctx.session.worker.lease if ctx.session and ctx.session.worker else None
    return {"expires": await ctx.services.jobs.heartbeat(params.id, params.lease, lease, doc)}


async def log(ctx: Ctx, params: p.Log) -> bool:
    # without a lease this is a controller's note, which workers may not write
    doc = await ctx.job(params.id, "jobs.log" if params.lease else "jobs.cancel")
    await ctx.services.jobs.log(
        params.id, params.lease, params.message, params.level, params.data, ctx.identity.user, doc
    )
    return True


async def progress(ctx: Ctx, params: p.Progress) -> bool:
    doc = await ctx.job(params.id, cas=True)
    await ctx.services.jobs.progress(params.id, params.lease, params.completed, params.total, doc)
    return True


async def update_data(ctx: Ctx, params: p.UpdateData) -> Job:
    doc = await ctx.job(params.id, cas=True)
    jobs = ctx.services.jobs
    return ctx.show(await jobs.update_data(params.id, params.lease, params.data, params.merge, doc))


async def _final_report(ctx: Ctx, params: p.Leased) -> Job:
    """The worker is done with the job either way: free its slot now, so the next claim joins
    this report's write in one group commit."""
    doc = await ctx.job(params.id, cas=True)
    ctx.services.dispatcher.finishing(params.id, params.lease)
    return doc


async def done(ctx: Ctx, params: p.Done) -> bool:
    doc = await _final_report(ctx, params)
    await ctx.services.jobs.done(params.id, params.lease, params.result, ctx.identity.user, doc)
    return True


async def fail(ctx: Ctx, params: p.Fail) -> bool:
    doc = await _final_report(ctx, params)
    user = ctx.identity.user
    await ctx.services.jobs.fail(params.id, params.lease, params.error, params.fatal, user, doc)
    return True


async def snooze(ctx: Ctx, params: p.Snooze) -> bool:
    doc = await _final_report(ctx, params)
    await ctx.services.jobs.snooze(params.id, params.lease, params.seconds, ctx.identity.user, doc)
    return True


async def workers_list(ctx: Ctx, params: p.Empty) -> list[dict[str, object]]:
    if ctx.services.workers is not None:  # with the jobs each holds (``runtime.workers``)
        return ctx.services.workers.describe()
    return [w.describe() for w in ctx.services.dispatcher.workers]


# -- live ---------------------------------------------------------------------------------


async def subscribe(ctx: Ctx, params: p.Subscribe) -> dict[str, str]:
    session = ctx.need_session()
    if len(session.subscriptions) >= ctx.services.settings.max_subscriptions:
        raise RateLimited(f"at most {ctx.services.settings.max_subscriptions} subscriptions")
    sub_id = f"s{next(_sub_numbers)}"
    filter = ctx.query(params.filter)
    cost = filter_cost(parse_filter(params.filter))  # the client's own, not the role's scope
    subscriptions, settings = ctx.services.subscriptions, ctx.services.settings
    subscriptions.admit(session, ctx.identity.user, ctx.identity.role, filter, cost, settings)
    window = _window(ctx, params, filter)
    # documents follow the reply: the snapshot starts once this result is queued
    if window is not None:
        subscriptions.open_window(session, sub_id, window, cost)
    else:
        reader = ctx.services.permissions.reader(ctx.identity)
        subscriptions.open(session, sub_id, filter, ctx.identity.role, cost, reader)
    return {"sub": sub_id}


def _window(ctx: Ctx, params: p.Subscribe, filter: dict[str, Any]) -> Window | None:
    """The live window or count feed ``params`` ask for, if any (checked before opening)."""
    view, reader = ctx.identity.role, ctx.services.permissions.reader(ctx.identity)
    # under a callable read rule a window's rows and counts are its user's alone
    mine = "" if reader is None else f" @{ctx.identity.user}"
    if params.counts:
        if params.limit is not None or params.sort is not None or params.skip:
            raise Invalid("a count feed ('counts': true) takes no sort, limit or skip")
        key = counts_key(view, filter) + mine
        return Window(key, filter, (), 0, 0, view, counts=True, reader=reader)
    if params.limit is None:
        if params.sort is not None or params.skip:
            raise Invalid("'sort' and 'skip' need a 'limit' (a live window)")
        return None
    sort = ctx.order(params.sort)
    key = window_key(view, filter, sort, params.limit, params.skip) + mine
    return Window(key, filter, sort, params.limit, params.skip, view, reader=reader)


_sub_numbers = itertools.count(1)


async def unsubscribe(ctx: Ctx, params: p.Unsubscribe) -> bool:
    session = ctx.need_session()
    sub = session.subscriptions.get(params.sub)
    if sub is None:
        raise NotFound(f"no subscription {params.sub}")
    ctx.services.subscriptions.close(sub)
    return True
