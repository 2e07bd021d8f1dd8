"""Workers, live: ``workers.watch`` callers get this server's workers with the jobs each holds
(type, start, lease expiry), then the whole list again whenever it changes: a worker starts or
stops, a job is pushed to one or leaves it, a heartbeat moves a lease. Pushed, never polled.

The triggers are the dispatcher's (``on_workers``, ``on_dispatch``) and the change feed (a
change to a job in the list last sent, or leased to one of its workers); pushes are coalesced
over ``DELAY`` seconds, so a burst of heartbeats costs one frame.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livejobs import protocol
from livejobs.runtime.dispatch import Dispatcher
from livejobs.session import Session
from livejobs.store.base import Change

DELAY = 0.1


class WorkerWatch:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._watchers: set[Session] = set()
        #: the worker and job ids of the list last described
        self._ours: set[str] = set()
        self._pending: asyncio.TimerHandle | None = None
        dispatcher.on_workers.append(self.changed)
        dispatcher.on_dispatch.append(lambda job, worker: self.changed())

    def describe(self) -> list[dict[str, Any]]:
        """``workers.list``: each worker, and in ``jobs`` what it holds as last seen."""
        listed, ours = [], set()
        for worker in self._dispatcher.workers:
            entry = worker.describe()
            jobs = []
            for job_id in sorted(worker.running):
                doc = self._dispatcher.held(job_id) or {}
                lease = doc.get("lease") or {}
                started, expires = doc.get("started"), lease.get("expires")
                jobs.append(
                    {"id": job_id, "type": doc.get("type"), "started": started, "expires": expires}
                )
                ours.add(job_id)
            entry["jobs"] = jobs
            listed.append(entry)
            ours.add(worker.worker_id)
        self._ours = ours
        return listed

    def watch(self, session: Session) -> list[dict[str, Any]]:
        self._watchers.add(session)
        return self.describe()

    def on_change(self, change: Change) -> None:
        """A feed listener: runs for every change of every job."""
        if not self._watchers:
            return
        doc = change.doc
        lease = doc.get("lease") if doc is not None else None
        if change.id in self._ours or (lease and lease.get("worker") in self._ours):
            self.changed()

    def changed(self) -> None:
        if self._watchers and self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(DELAY, self._push)

    def _push(self) -> None:
        self._pending = None
        self._watchers = {s for s in self._watchers if s.open}
        if self._watchers:
            frame = protocol.workers_pushed(self.describe())
            for session in self._watchers:
                session.send(frame)
