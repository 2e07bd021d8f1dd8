"""The handlers of the ``types.*`` methods: a job type's flow rules and the defaults of its new
jobs (``livejobs.methods`` lists them), kept as one record per type (``FlowControl``)."""

from __future__ import annotations

from typing import Any

import msgspec

from livejobs import params as p
from livejobs.context import Ctx
from livejobs.errors import Forbidden, Invalid
from livejobs.permissions import seen_rules


def _check_seen(ctx: Ctx, job_type: str) -> None:
    """A type whose jobs a rule hides from the caller is not the caller's to change either:
    the answer (its rules) and the change itself would show what the rule hides."""
    seen = ctx.services.permissions.type_filter(ctx.identity, ctx.method)
    if seen is not None and not seen(job_type):
        who = f"{ctx.identity.role} {ctx.identity.user!r}"
        raise Forbidden(f"{who} may not call {ctx.method} on type {job_type}")


async def _set_rules(
    ctx: Ctx, job_type: str, rev: int | None = None, **changes: Any
) -> dict[str, Any]:
    _check_seen(ctx, job_type)
    result = await ctx.services.jobs.flow.change(job_type, changes, rev)
    ctx.services.dispatcher.type_changed(job_type)
    return result


async def types_set_limits(ctx: Ctx, params: p.TypeLimits) -> dict[str, Any]:
    if (params.rate_limit is None) != (params.rate_per is None):
        raise Invalid("give rate_limit and rate_per together (e.g. 100 per 60 seconds)")
    if (params.group_rate_limit is None) != (params.group_rate_per is None):
        raise Invalid("give group_rate_limit and group_rate_per together")
    limits = msgspec.structs.asdict(params)
    del limits["type"], limits["rev"]
    return await _set_rules(ctx, params.type, params.rev, **limits)


async def types_set_retain(ctx: Ctx, params: p.TypeRetain) -> dict[str, Any]:
    """A retention time per type, for jobs finishing from now on (as a job's own ``retain``,
    which still wins)."""
    return await _set_rules(ctx, params.type, params.rev, retain=params.retain)


async def types_set_keep(ctx: Ctx, params: p.TypeKeep) -> dict[str, Any]:
    """How many finished jobs of the type are kept per status; every server removes the
    older ones (``livejobs.runtime.keeper``), those finished before the rule included."""
    keep = dict(params.keep) if params.keep else None
    return await _set_rules(ctx, params.type, params.rev, keep=keep)


async def types_pause(ctx: Ctx, params: p.TypeRef) -> dict[str, Any]:
    return await _set_rules(ctx, params.type, paused=True)


async def types_resume(ctx: Ctx, params: p.TypeRef) -> dict[str, Any]:
    return await _set_rules(ctx, params.type, paused=False)


async def types_set_retry(ctx: Ctx, params: p.TypeRetry) -> dict[str, Any]:
    retry = None if params.retry is None else msgspec.to_builtins(params.retry)
    return await _set_rules(ctx, params.type, params.rev, retry=retry)


async def types_set_time_limit(ctx: Ctx, params: p.TypeTimeLimit) -> dict[str, Any]:
    """A time limit per type, for jobs created from now on without one of their own."""
    return await _set_rules(ctx, params.type, params.rev, time_limit=params.time_limit)


async def types_obliterate(ctx: Ctx, params: p.TypeObliterate) -> dict[str, int]:
    """Every job of the type and its rules removed; a job is cancelled, and removed, only as
    the per-job calls (``jobs.cancel``, ``jobs.remove``) would let this caller act on it."""
    _check_seen(ctx, params.type)
    may_cancel = ctx.may_all(ctx.method, "jobs.cancel")
    may_remove = ctx.may_all(ctx.method, "jobs.remove")
    scope = ctx.query({"type": params.type})
    user, reason, force = ctx.identity.user, params.reason, params.force
    result = await ctx.services.jobs.obliterate(
        params.type, scope, user, reason, force, may_cancel, may_remove
    )
    ctx.services.dispatcher.type_changed(params.type)
    return result


async def types_list(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    seen = ctx.services.permissions.type_filter(ctx.identity, ctx.method)
    return seen_rules(await ctx.services.jobs.flow.describe(), seen)


async def types_watch(ctx: Ctx, params: p.Empty) -> list[dict[str, Any]]:
    """``types.list``, then a ``types`` frame with the whole list whenever any server changes
    a type's rules, for as long as the connection lasts."""
    session = ctx.need_session()
    session.types_seen = ctx.services.permissions.type_filter(ctx.identity, ctx.method)
    session.watching_types = True
    return seen_rules(await ctx.services.jobs.flow.describe(), session.types_seen)
