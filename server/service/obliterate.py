"""``types.obliterate``: a job type gone at once, its jobs and its rules (BullMQ's
``obliterate``), for a queue that is retired or was filled by mistake.

The type is paused first, so that no job of it starts while its jobs are cancelled and removed;
a job that remains (created meanwhile, or one the caller's rules keep it from cancelling or
removing) keeps the type's rules as they were, paused or not, and is counted in ``kept``.
The type's history (throughput rollups) stays: it is what happened, and ages out as usual.
"""

from __future__ import annotations

from dataclasses import replace

from livejobs.errors import Conflict
from livejobs.jobs.model import Status
from livejobs.service import JobService, Visible
from livejobs.store.base import Filter


async def obliterate(
    jobs: JobService,
    job_type: str,
    scope: Filter,
    by: str,
    reason: str | None,
    force: bool,
    may_cancel: Visible,
    may_remove: Visible,
) -> dict[str, int]:
    """Cancel every unfinished job of ``job_type`` within ``scope`` that ``may_cancel``
    allows (a running one only with ``force``: its handler is told to stop), remove the
    finished ones ``may_remove`` allows, then forget the type's rules if no job of it is left.
    Returns the counts cancelled, removed and kept."""
    running = {"$and": [scope, {"status": Status.RUNNING}]}
    if not force and (held := await jobs.store.count(running)):
        raise Conflict(
            f"type {job_type} has {held} running job(s); let them finish, "
            "or pass force to cancel them too"
        )
    before = await jobs.flow.stored(job_type)
    await jobs.flow.set_rules(job_type, replace(before, paused=True))
    reason = reason or "obliterated"
    cancelled = await jobs.drain(scope, by, reason, None, may_cancel, running=force)
    removed = await jobs.clean(scope, may=may_remove)
    kept = await jobs.store.count({"type": job_type})
    if kept:
        await jobs.flow.set_rules(job_type, before)
    else:
        await jobs.flow.forget(job_type)
    return {"cancelled": cancelled, "removed": removed, "kept": kept}
