"""Retention by count (``types.set_keep``, BullMQ's ``removeOnComplete: {count}``): a type may
keep only its newest N finished jobs of a status; the older ones are removed. A job may carry
the same counts (``keep``, as BullMQ's option on a job): when it finishes, its type's jobs of
that status are trimmed to its count; the smallest count that applies wins.

Every server sees every change: when a job of such a type, or with such a count of its own,
enters a status counted, the pair is marked, and a pass a moment later (``PASS_DELAY``, so
that a burst of completions is one pass, not one per job) removes what is beyond the count, a
chunk at a time. A rule set or changed, and a server starting, mark every status the type
counts, so that jobs finished before are trimmed too. Servers sharing a store trim alike; each
job is removed only at the version the pass read, so two servers never remove more than the
rule says.
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
        #: (type, status) → the smallest count of its own a job finishing there asked for
        #: (None: only the type's rule)
        self._marked: dict[tuple[str, str], int | None] = {}
        self._wake = asyncio.Event()

    def on_change(self, change: Change) -> None:
        """Runs for every change of every job: two lookups unless the job or its type keeps."""
        doc = change.doc
        if doc is None or (status := doc["status"]) not in _FINISHED:
            return
        own = (doc.get("keep") or {}).get(status)
        rule = self._jobs.flow.keep_of(doc["type"])
        if own is None and (rule is None or status not in rule):
            return
        self._mark((doc["type"], status), own)

    def _mark(self, pair: tuple[str, str], own: int | None) -> None:
        counts = [n for n in (self._marked.get(pair), own) if n is not None]
        self._marked[pair] = min(counts, default=None)
        self._wake.set()

    def rules_changed(self, job_type: str) -> None:
        """The type's rules changed (here or on another server): trim it to the new counts."""
        for status in self._jobs.flow.keep_of(job_type) or {}:
            self._mark((job_type, status), None)

    async def run(self) -> None:
        for job_type in self._jobs.flow.kept_types():  # what finished while no server ran
            self.rules_changed(job_type)
        while True:
            await self._wake.wait()
            await asyncio.sleep(PASS_DELAY)
            self._wake.clear()
            marked, self._marked = self._marked, {}
            for (job_type, status), own in sorted(marked.items()):
                await self._trim(job_type, status, own)

    async def _trim(self, job_type: str, status: str, own: int | None) -> None:
        rule = (self._jobs.flow.keep_of(job_type) or {}).get(status)
        keep = min((n for n in (rule, own) if n is not None), default=None)
        if keep is None:  # the rule went meanwhile
            return
        try:
            removed = await self._jobs.keep_newest(job_type, status, keep)
        except Exception as exc:  # the store is failing: the next change marks it again
            log.warning("could not trim the %s jobs of %r: %s", status, job_type, exc)
            return
        if removed:
            log.debug("removed %d %s jobs of %r beyond %d", removed, status, job_type, keep)
