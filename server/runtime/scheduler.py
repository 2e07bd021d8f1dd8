"""One timer for everything time-driven: delayed jobs becoming ready, lease deadlines, expiry
and retention. It sleeps until the earliest ``due`` in the store and is re-armed by the change
feed whenever a change brings that moment closer. No polling."""

from __future__ import annotations

import asyncio
import logging
import math

from livejobs.clock import Clock
from livejobs.service import JobService
from livejobs.store.base import Change, Store

log = logging.getLogger("livejobs.scheduler")

BATCH = 500


class Scheduler:
    def __init__(self, store: Store, service: JobService, clock: Clock) -> None:
        self.store = store
        self.service = service
        self.clock = clock
        self._wake = asyncio.Event()
        self._armed: float | None = math.inf

    def on_change(self, change: Change) -> None:
        due = change.doc.get("due") if change.doc is not None else None
        if change.op == "reset" or (due is not None and (self._armed is None or due < self._armed)):
            self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            self._armed = None  # while working, any due change re-arms
            try:
                docs = await self.store.due(self.clock.now(), BATCH)
                for doc in docs:
                    await self.service.on_due(doc)
                if len(docs) == BATCH:
                    continue
                nxt = await self.store.next_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed; retrying in 1 s")
                nxt = self.clock.now() + 1.0
            self._armed = nxt
            if nxt is None:
                await self._wake.wait()
            else:
                await self.clock.sleep_until(nxt, self._wake)
