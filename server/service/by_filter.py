"""The calls by filter: finished jobs removed (``jobs.clean``, or all but a type's newest for
``types.set_keep``), queued ones cancelled (``jobs.drain``), and a job type gone at once, its
jobs and its rules (``types.obliterate``, BullMQ's ``obliterate``, for a queue that is retired
or was filled by mistake).

Each goes a chunk at a time (``CLEAN_CHUNK`` jobs per store transaction), oldest first,
yielding between chunks, so that a million rows never hold the server (or the store's writer)
for long; a job the caller's rules refuse is paged past and stays.

An obliterate pauses the type first, so that no job of it starts while its jobs are cancelled
and removed; a job that remains (created meanwhile, or one the caller may not cancel or
remove) keeps the type's rules as they were, paused or not, and is counted in ``kept``. The
type's history (throughput rollups) stays: it is what happened, and ages out as usual.
"""

from __future__ import annotations

import asyncio

from livejobs.errors import Conflict, NotFound
from livejobs.jobs.model import FINISHED, QUEUED, UNFINISHED, Job, Status
from livejobs.service.core import JobCore, Transition, Visible
from livejobs.store.base import Filter

#: jobs removed, or cancelled, per store transaction
CLEAN_CHUNK = 1000


class ByFilter(JobCore):
    async def clean(
        self, filter: Filter, limit: int | None = None, may: Visible | None = None
    ) -> int:
        """Remove the finished jobs matching ``filter`` (at most ``limit``; only those ``may``
        allows), oldest first, in chunks of ``CLEAN_CHUNK`` per store transaction, yielding
        between chunks so that a million rows never hold the server (or the store's writer)
        for long."""
        finished = {"status": {"$in": sorted(FINISHED)}}
        scoped = {"$and": [filter, finished]} if filter else finished
        removed = passed = 0
        while limit is None or removed < limit:
            chunk = CLEAN_CHUNK if limit is None else min(CLEAN_CHUNK, limit - removed)
            docs = await self.store.find(scoped, (("created", 1),), limit=chunk, skip=passed)
            allowed = docs if may is None else [doc for doc in docs if may(doc)]
            passed += len(docs) - len(allowed)  # refused ones stay: page past them
            deleted = await self.store.delete_many([(d["id"], d["version"]) for d in allowed])
            removed += deleted
            if len(docs) < chunk or not (deleted or len(allowed) < len(docs)):
                break
            await asyncio.sleep(0)  # let calls and the feed in between chunks
        return removed

    async def keep_newest(
        self, job_type: str, status: str, keep: int, owner: str | None = None
    ) -> int:
        """Remove the jobs of ``job_type`` in ``status`` (a finished one), of ``owner`` if
        given, but the ``keep`` that finished last, a chunk at a time; returns how many were
        removed. A job that changed meanwhile (rerun, removed by another server) is left to
        the next pass."""
        scoped = {"type": job_type, "status": status}
        if owner is not None:
            scoped["owner"] = owner
        newest_first = (("finished", -1),)
        removed = 0
        while True:
            docs = await self.store.find(scoped, newest_first, limit=CLEAN_CHUNK, skip=keep)
            if not docs:
                return removed
            deleted = await self.store.delete_many([(d["id"], d["version"]) for d in docs])
            removed += deleted
            if len(docs) < CLEAN_CHUNK or not deleted:
                return removed
            await asyncio.sleep(0)

    async def drain(
        self,
        filter: Filter,
        by: str,
        reason: str | None,
        limit: int | None,
        may: Visible,
        running: bool = False,
    ) -> int:
        """Cancel the queued jobs (waiting, ready, paused) matching ``filter`` that ``may``
        allows, at most ``limit``, oldest first, a chunk at a time as ``clean`` removes; a job
        that starts meanwhile is left running, unless ``running``: then running jobs are
        cancelled too. Returns how many were cancelled."""
        statuses = {"status": {"$in": sorted(UNFINISHED if running else QUEUED)}}
        scoped = {"$and": [filter, statuses]} if filter else statuses
        cancel = self._cancelling(by, reason or "drained", queued_only=not running)
        cancelled = passed = 0
        while limit is None or cancelled < limit:
            chunk = CLEAN_CHUNK if limit is None else min(CLEAN_CHUNK, limit - cancelled)
            docs = await self.store.find(scoped, (("created", 1),), limit=chunk, skip=passed)
            allowed = [doc for doc in docs if may(doc)]
            passed += len(docs) - len(allowed)  # refused ones stay queued: page past them
            done = await asyncio.gather(*(self._try(d["id"], cancel, d) for d in allowed))
            cancelled += sum(done)
            if len(docs) < chunk or not (any(done) or len(allowed) < len(docs)):
                break
            await asyncio.sleep(0)
        return cancelled

    async def _try(self, job_id: str, change: Transition, doc: Job) -> bool:
        try:
            await self.transition(job_id, change, doc)
        except (Conflict, NotFound):
            return False
        return True

    async def obliterate(
        self,
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
        Returns the counts cancelled, removed and kept (kept: within ``scope``)."""
        running = {"$and": [scope, {"status": Status.RUNNING}]}
        if not force and (held := await self.store.count(running)):
            raise Conflict(
                f"type {job_type} has {held} running job(s); let them finish, "
                "or pass force to cancel them too"
            )
        before = await self.flow.stored(job_type)
        await self.flow.change(job_type, {"paused": True})
        reason = reason or "obliterated"
        cancelled = await self.drain(scope, by, reason, None, may_cancel, running=force)
        removed = await self.clean(scope, may=may_remove)
        if await self.store.count({"type": job_type}) and before.stored:
            await self.flow.change(job_type, {"paused": before.paused})
        else:  # no job left, or none to keep rules for: no record, as before any was set
            await self.flow.forget(job_type)
        kept = await self.store.count(scope)  # of the jobs the caller may read: no others
        return {"cancelled": cancelled, "removed": removed, "kept": kept}
