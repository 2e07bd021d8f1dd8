"""What the runtime attaches to a connection: the workers it started and its subscriptions.

``livejobs.session.Session`` is the connection's own state (identity, outbox) and knows none
of this; the dispatcher and the subscriptions keep these records, and the WebSocket edge
releases them when the connection goes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from livejobs.flusher import Flusher
from livejobs.session import MAX_OUTBOX_BYTES, Session
from livejobs.store.base import Change


@dataclass(eq=False, slots=True)
class Worker:
    """A connection that called ``worker.start``: the dispatcher pushes it ready jobs."""

    session: Session
    worker_id: str
    user: str
    types: tuple[str, ...]
    concurrency: int
    lease: float | None
    since: float
    #: job id → lease token of the jobs this worker holds
    running: dict[str, str] = field(default_factory=dict)
    #: per type, the ready-sequence number seen by the last short claim
    seen: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    #: no claim is tried for a while after the store failed one
    paused: bool = False
    #: jobs held beyond ``concurrency``, waiting in the worker for a free handler
    prefetch: int = 0
    #: a lease of this worker ran out with its socket open (frozen, or a blocked event loop):
    #: no work until it is heard from again (``Dispatcher.heard_from``)
    suspect: bool = False
    #: paused by its client (``worker.pause``): keeps its running jobs, is pushed no more
    resting: bool = False

    @property
    def free(self) -> int:
        return (
            0
            if self.stopped or self.resting
            else self.concurrency + self.prefetch - len(self.running)
        )

    @property
    def claim_size(self) -> int:
        """At most half the worker's slots per claim (rounded up), so that the worker runs one
        half while the server commits and refills the other (docs/performance.md, "Claims in
        halves")."""
        return (self.concurrency + self.prefetch + 1) // 2

    def describe(self) -> dict[str, object]:
        return {
            "worker_id": self.worker_id,
            "user": self.user,
            "types": list(self.types),
            "concurrency": self.concurrency,
            "prefetch": self.prefetch,
            "running": sorted(self.running),
            "since": self.since,
            "paused": self.resting,
        }


@dataclass(eq=False, slots=True)
class Subscription:
    """A live query of one connection (``livejobs.runtime.subscriptions``)."""

    sub_id: str
    session: Connection
    filter: dict[str, Any]
    key: str
    sub_json: str
    #: the role whose fields it reads
    view: str
    #: the filter's evaluation cost (``livejobs.query.filter_cost``), counted against budgets
    cost: int = 0
    ids: set[str] = field(default_factory=set)
    #: changes that arrived while the snapshot was being sent (None once live)
    backlog: list[tuple[Change, bool]] | None = field(default_factory=list)


class Connection(Session):
    """A WebSocket session with the runtime's records of it."""

    def __init__(
        self, remote: str = "", flusher: Flusher | None = None, max_bytes: int = MAX_OUTBOX_BYTES
    ) -> None:
        super().__init__(remote, flusher, max_bytes)
        self.subscriptions: dict[str, Subscription] = {}
        self.worker: Worker | None = None
        #: workers stopped on this connection that may still hold running jobs
        self.retired_workers: list[Worker] = []
        #: its subscriptions' snapshots go one at a time (``Subscriptions._snapshot``)
        self.snapshot_turn = asyncio.Lock()

    def worker_ids(self) -> list[str]:
        """The ids of the workers this connection started (a worker reads the jobs they ran)."""
        return [w.worker_id for w in (self.worker, *self.retired_workers) if w is not None]

    def workers(self) -> list[Worker]:
        """Every worker this connection started, the current one last."""
        return [*self.retired_workers, *([self.worker] if self.worker else [])]
