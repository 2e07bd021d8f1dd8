"""History kept by the server: per type, per minute (a day) and per hour (a month), the jobs
created, started, completed, failed and retried, the queue's depth and the wait and run time
spreads (``livejobs.jobs.rollups``), stored as rollups (``Store.add_rollups``).

Each server counts the writes it committed itself (``JobService.wrote``: the same transitions
the change feed then carries to everyone). The feed brings every server every change, so
counting there would count each job once per server; counting its own writes, each server
adds its share, and the stored rows, merged by adding, hold each job once. Counts build up in
memory and are added every ``flush_seconds`` in one batch (not a write per job); the queue's
depth is sampled from the store at each flush (its mean merges by adding too). Rows older
than the retention are pruned after each flush, by every server (a cheap range delete).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from livejobs.clock import Clock
from livejobs.jobs import rollups
from livejobs.jobs.model import Job
from livejobs.jobs.rollups import STEP, Counts
from livejobs.store.base import Rollup, Store

log = logging.getLogger("livejobs.history")

Key = tuple[str, float, str]
#: steps ``stats.history`` goes back by default, and at most (a day of minutes, 62 days of hours)
DEFAULT_STEPS = 60
MAX_STEPS = 1_488


class History:
    """This server's counts not yet added to the store, the timer that adds them, and the
    reads that merge the store's rows with them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        label: Callable[[str], str],
        *,
        flush_seconds: float = 10.0,
        keep: dict[str, float] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        #: a type as it is kept: the first types seen have their own rows, later ones share
        #: one (``Metrics.label``), so that invented types cannot grow the table without end
        self.label = label
        self.flush_seconds = flush_seconds
        #: resolution → seconds its rows are kept
        self.keep = keep or {"minute": 86_400.0, "hour": 30 * 86_400.0}
        self._pending: dict[Key, Counts] = {}
        self._wake = asyncio.Event()
        #: set after each pass of the timer (tests wait on it instead of sleeping)
        self.passed = asyncio.Event()

    # -- counting ------------------------------------------------------------------------------

    def wrote(self, before: str | None, doc: Job) -> None:
        """A write this server committed (``JobService.wrote``)."""
        counts = rollups.counted(before, doc)
        if counts:
            self._add(doc["updated"], self.label(doc["type"]), counts)

    def _add(self, at: float, job_type: str, counts: Counts) -> None:
        """Counted in its minute only: the hours are those minutes added up (``_rows``)."""
        key = ("minute", rollups.start_of(at, "minute"), job_type)
        row = self._pending.get(key)
        if row is None:
            self._pending[key] = dict(counts)
        else:
            rollups.add(row, counts)

    def _rows(self, pending: dict[Key, Counts]) -> dict[Key, Counts]:
        """``pending``'s minutes, and the hours they add up to."""
        rows = dict(pending)
        for (_, start, job_type), counts in pending.items():
            hour = ("hour", rollups.start_of(start, "hour"), job_type)
            rollups.add(rows.setdefault(hour, {}), counts)
        return rows

    async def _sample_depth(self) -> None:
        """One sample of each type's ready jobs, for every type ready now or counted in this
        minute (a quiet type with nothing ready has no row, and reads as no point)."""
        now = self.clock.now()
        ready: dict[str, int] = {}
        for job_type, n in (await self.store.count_by("type", {"status": "ready"})).items():
            label = self.label(job_type)
            ready[label] = ready.get(label, 0) + n
        minute = rollups.start_of(now, "minute")
        active = {t for (res, start, t) in self._pending if res == "minute" and start == minute}
        for job_type in active | set(ready):
            self._add(now, job_type, rollups.depth(ready.get(job_type, 0)))

    # -- writing -----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Sample the depth, then add every pending count to the store in one call; on
        failure the counts stay pending for the next flush."""
        await self._sample_depth()
        pending, self._pending = self._pending, {}
        if not pending:
            return
        rows = self._rows(pending)
        try:
            await self.store.add_rollups([Rollup(*key, counts) for key, counts in rows.items()])
        except BaseException:
            for key, counts in pending.items():
                rollups.add(self._pending.setdefault(key, {}), counts)
            raise

    async def prune(self) -> None:
        now = self.clock.now()
        for resolution, seconds in self.keep.items():
            await self.store.prune_rollups(resolution, rollups.start_of(now - seconds, resolution))

    async def run(self) -> None:
        """Flush and prune every ``flush_seconds`` of the clock, until cancelled."""
        while True:
            await self.clock.sleep_until(self.clock.now() + self.flush_seconds, self._wake)
            self._wake.clear()
            try:
                await self.flush()
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away: the counts wait in memory
                log.warning("could not store the history: %s", exc)
            self.passed.set()

    # -- reading -----------------------------------------------------------------------------

    async def merged(
        self, resolution: str, since: float, types: Sequence[str] | None = None
    ) -> dict[tuple[float, str], Counts]:
        """(start, type) → counts: the store's rows plus this server's pending counts."""
        out: dict[tuple[float, str], Counts] = {}
        for row in await self.store.rollups(resolution, since, types):
            rollups.add(out.setdefault((row.start, row.type), {}), row.counts)
        for (res, start, job_type), counts in self._rows(self._pending).items():
            if res == resolution and start >= since and (types is None or job_type in types):
                rollups.add(out.setdefault((start, job_type), {}), counts)
        return out

    async def series(
        self, resolution: str, since: float | None, types: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """``stats.history``'s answer: per type, one point per bucket that has counts."""
        step, now = STEP[resolution], self.clock.now()
        since = now - DEFAULT_STEPS * step if since is None else max(since, now - MAX_STEPS * step)
        start = rollups.start_of(since, resolution)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for (at, job_type), counts in sorted((await self.merged(resolution, start, types)).items()):
            by_type.setdefault(job_type, []).append(rollups.point(at, counts, step))
        return {
            "resolution": resolution,
            "step": step,
            "since": start,
            "now": now,
            "series": [{"type": t, "points": points} for t, points in sorted(by_type.items())],
        }

    async def last_minute(self) -> dict[str, Counts]:
        """Type → the counts of the last complete minute, all servers' (for ``/metrics``)."""
        start = rollups.start_of(self.clock.now(), "minute") - STEP["minute"]
        found = await self.merged("minute", start)
        return {job_type: counts for (at, job_type), counts in found.items() if at == start}
