"""Retention by count (``types.set_keep``, BullMQ's ``removeOnComplete: {count}``): a type may
keep only its newest N finished jobs of a status; the older ones are removed.

Every server sees every change: when a job of such a type enters a status the type counts, the
pair is marked, and a pass a moment later (``PASS_DELAY``, so that a burst of completions is
one pass, not one per job) removes what is beyond the count, a chunk at a time. A rule set or
changed, and a server starting, mark every status the type counts, so that jobs finished
before are trimmed too. Servers sharing a store trim alike; each job is removed only at the
version the pass read, so two servers never remove more than the rule says.
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


class Keeper:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs
        self._marked: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()

    def on_change(self, change: Change) -> None:
        """Runs for every change of every job: a dictionary lookup unless the type keeps."""
        doc = change.doc
        if doc is None or doc["status"] not in _FINISHED:
            return
        keep = self._jobs.flow.keep_of(doc["type"])
        if keep is not None and doc["status"] in keep:
            self._marked.add((doc["type"], doc["status"]))
            self._wake.set()

    def rules_changed(self, job_type: str) -> None:
        """The type's rules changed (here or on another server): trim it to the new counts."""
        for status in self._jobs.flow.keep_of(job_type) or {}:
            self._marked.add((job_type, status))
        self._wake.set()

    async def run(self) -> None:
        for job_type in self._jobs.flow.kept_types():  # what finished while no server ran
            self.rules_changed(job_type)
        while True:
            await self._wake.wait()
            await asyncio.sleep(PASS_DELAY)
            self._wake.clear()
            marked, self._marked = self._marked, set()
            for job_type, status in sorted(marked):
                await self._trim(job_type, status)

    async def _trim(self, job_type: str, status: str) -> None:
        keep = (self._jobs.flow.keep_of(job_type) or {}).get(status)
        if keep is None:  # the rule went meanwhile
            return
        try:
            removed = await self._jobs.keep_newest(job_type, status, keep)
        except Exception as exc:  # the store is failing: the next change marks it again
            log.warning("could not trim the %s jobs of %r: %s", status, job_type, exc)
            return
        if removed:
            log.debug("removed %d %s jobs of %r beyond %d", removed, status, job_type, keep)
