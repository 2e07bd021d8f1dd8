"""Retention by count (``types.set_keep``, BullMQ's ``removeOnComplete: {count}``): a type may
keep only its newest N finished jobs of a status; the older ones are removed. A job may carry
a count of its own (``keep``, as BullMQ's option on a job): when it finishes, the newest N of
its type and status created by its owner are kept. Scoped to the owner, because a creator
removes only its own jobs; the type's count, which managers set, covers every owner's.

Every server sees every change: when a job enters a status its type or itself counts, the
pair (or the owner's) is marked, and a pass a moment later (``PASS_DELAY``, so that a burst of
completions is one pass, not one per job) removes what is beyond the count, a chunk at a time.
A rule set or changed, and a server starting, mark every status the type counts, so that jobs
finished before are trimmed too. Servers sharing a store trim alike; each job is removed only
at the version the pass read, so two servers never remove more than the rule says.
"""

from __future__ import annotations

import asyncio
import logging

from livejobs.jobs.model import FINISHED
from livejobs.service import JobService
from livejobs.store.base import Change

log = logging.getLogger("livejobs.keeper")

PASS_DELAY = 0.5
"""Seconds between a marked change and the pass over its (type, status)."""
_FINISHED = frozenset(status.value for status in FINISHED)


#: what a pass trims: (type, status, None) to the type's count, (type, status, owner) to the
#: smallest count of its own a job of that owner finishing there carried
Mark = tuple[str, str, str | None]


class Keeper:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs
        self._marked: dict[Mark, int | None] = {}
        self._wake = asyncio.Event()

    def on_change(self, change: Change) -> None:
        """Runs for every change of every job: two lookups unless the job or its type keeps."""
        doc = change.doc
        if doc is None or (status := doc["status"]) not in _FINISHED:
            return
        rule = self._jobs.flow.keep_of(doc["type"])
        if rule is not None and status in rule:
            self._mark((doc["type"], status, None), None)
        own = (doc.get("keep") or {}).get(status)
        if own is not None:
            self._mark((doc["type"], status, doc["owner"]), own)

    def _mark(self, mark: Mark, own: int | None) -> None:
        counts = [n for n in (self._marked.get(mark), own) if n is not None]
        self._marked[mark] = min(counts, default=None)
        self._wake.set()

    def rules_changed(self, job_type: str) -> None:
        """The type's rules changed (here or on another server): trim it to the new counts."""
        for status in self._jobs.flow.keep_of(job_type) or {}:
            self._mark((job_type, status, None), None)

    async def run(self) -> None:
        for job_type in self._jobs.flow.kept_types():  # what finished while no server ran
            self.rules_changed(job_type)
        while True:
            await self._wake.wait()
            await asyncio.sleep(PASS_DELAY)
            self._wake.clear()
            marked, self._marked = self._marked, {}
            for mark, own in marked.items():
                await self._trim(mark, own)

    async def _trim(self, mark: Mark, own: int | None) -> None:
        job_type, status, owner = mark
        keep = own if owner is not None else (self._jobs.flow.keep_of(job_type) or {}).get(status)
        if keep is None:  # the rule went meanwhile
            return
        try:
            removed = await self._jobs.keep_newest(job_type, status, keep, owner)
        except Exception as exc:  # the store is failing: the next change marks it again
            log.warning("could not trim the %s jobs of %r: %s", status, job_type, exc)
            return
        if removed:
            log.debug("removed %d %s jobs of %r beyond %d", removed, status, job_type, keep)
