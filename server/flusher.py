"""The flusher: wakes the writers of sessions that have new frames, together, so that a busy
server writes fewer, larger messages (docs/performance.md, "Batched writes to clients")."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from livejobs.runs import Run

log = logging.getLogger("livejobs")


class Writer(Protocol):
    """A session's writer, as the flusher sees it (``livejobs.session.Session``)."""

    def flush(self) -> None: ...


class Flusher:
    """With few sessions waiting, wakes them on the next loop iteration. When many are waiting
    (``crowd``: a change fanned out to hundreds of subscribers), it waits ``interval`` before
    the next wake-up, so that the changes of that interval ride in one message per client. The
    shared runs of subscription groups gather changes until then, and are sealed just before.
    Writers are woken ``slice`` at a time, one slice per loop iteration."""

    def __init__(self, interval: float = 0.025, crowd: int = 100, slice: int = 100) -> None:
        self.interval = interval
        self.crowd = crowd
        self.slice = slice
        self._dirty: list[Writer] = []
        self._runs: list[Run] = []
        self._armed = False
        self._busy = False
        self._unswept = 0

    def mark(self, writer: Writer) -> None:
        self._dirty.append(writer)
        if not self._armed:
            self._arm()

    def seal_later(self, run: Run) -> None:
        """Seal ``run`` at the next flush, before the writers wake."""
        self._runs.append(run)
        if not self._armed:
            self._arm()

    def _arm(self) -> None:
        self._armed = True
        loop = asyncio.get_running_loop()
        if self._busy:
            loop.call_later(self.interval, self._flush)
        else:
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._armed = False
        runs, self._runs = self._runs, []
        for run in runs:
            run.seal()
        dirty, self._dirty = self._dirty, []
        # sessions still waiting for their slice of an earlier flush are just as busy
        self._busy = len(dirty) + self._unswept >= self.crowd
        self._unswept += len(dirty)
        self._wake(dirty, 0)

    def _wake(self, writers: list[Writer], start: int) -> None:
        """Wake ``slice`` writers per loop iteration: between slices the loop reads sockets
        and finishes calls, which a thousand writers in a row would hold up for milliseconds."""
        end = start + self.slice
        woken = writers[start:end]
        self._unswept -= len(woken)
        for writer in woken:
            try:
                writer.flush()
            except Exception:  # one session's bug must not leave the others unwritten
                log.exception("flushing %r failed", writer)
        if end < len(writers):
            asyncio.get_running_loop().call_soon(self._wake, writers, end)
