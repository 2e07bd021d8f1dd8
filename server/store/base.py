"""The storage seam: one small async interface, organised by job operation.

Backends only persist; every decision about what a job becomes is made by ``livejobs.jobs``
before a backend sees the document. Conditional writes compare the document's ``version`` so
that two racing transitions never both win.

Implementations: ``livejobs.store.sqlite.SQLiteStore`` (embedded, default),
``livejobs.store.mongo.MongoStore`` and ``livejobs.store.postgres.PostgresStore``.
``livejobs.store.open_store(url)`` picks one and imports only that one; this module imports
no backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from livejobs.jobs import lifecycle
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.feed import Change as Change
from livejobs.store.feed import Watcher

Filter = dict[str, Any]
"""A validated Mongo-style filter (see ``livejobs.query``)."""

Sort = Sequence[tuple[str, int]]
"""``[(field, 1 | -1), ...]``."""


class Rollup(NamedTuple):
    """One type's history in one minute or hour (``livejobs.jobs.rollups``): ``counts`` are
    numbers that merge by adding."""

    resolution: str
    start: float
    type: str
    counts: dict[str, float]


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """Ask for up to ``limit`` ready jobs of ``types`` for one worker.

    Candidates are ``status == "ready"``, ``type in types``, ``target`` null or equal to
    ``worker_id``, ``worker_id`` not in ``exclude``; taken by ``priority`` then ``created``.
    ``rules``: the record kind holding the types' ``TypeRules``; the claim reads them and
    respects them counting every start and every running job in the store (all servers'),
    all within the claim. A type without a record is unlimited.
    """

    types: tuple[str, ...]
    worker_id: str
    user: str
    now: float
    lease_seconds: float
    limit: int = 1
    rules: str | None = None

    def claim(self, doc: Job) -> Job:
        """``doc`` claimed for this request, as ``lifecycle.claim`` decides: what a store
        writes for each candidate it takes."""
        return lifecycle.claim(
            doc,
            worker_id=self.worker_id,
            user=self.user,
            now=self.now,
            lease_seconds=self.lease_seconds,
        )


@dataclass(slots=True)
class CreateRequest:
    """A create its caller may retry: ``id`` (the caller's ``request_id``), scoped to
    ``owner``, names it until ``expires``. ``at`` is the time of this attempt: a remembered
    request that expired by then is forgotten. The store sets ``replayed`` when it answered
    from the first attempt instead of inserting."""

    owner: str
    id: str
    at: float
    expires: float
    replayed: bool = False


class Store(Protocol):
    """What the server needs from a backend. Every method is safe to call concurrently."""

    #: writes apply in the order they were called (one queue, as SQLite's group commit): a
    #: claim called after an insert, even before the insert returned, sees the inserted job
    ordered_writes: bool

    async def open(self) -> None:
        """Connect and apply the pending schema migrations (``migrations.plan``). Raise
        ``StoreRefused`` when it cannot serve, or when the store is of a newer livejobs."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached (readiness probe)."""

    async def store_time(self) -> float:
        """The store's own clock, in epoch seconds: every server sharing the store keeps its
        time on it (``livejobs.clock.StoreClock``)."""

    # -- jobs ------------------------------------------------------------------------------
    async def insert(self, docs: Sequence[Job], request: CreateRequest | None = None) -> list[Job]:
        """Insert documents. For each one, return the stored document: itself, or, when its
        ``key`` is held by an unfinished job of the same ``owner``, that existing job (nothing
        is inserted then). With a ``request`` that the store remembers (same owner and id, not
        expired), insert nothing and return the jobs of its first answer as stored now (those
        since removed are left out); otherwise remember this answer with the insert."""

    async def amend_answer(self, request: CreateRequest, job_ids: Sequence[str]) -> None:
        """Make ``job_ids`` the remembered answer of ``request`` (inserted before): the create
        answered with other jobs than its insert returned (a schedule's save went on to the
        next run), and a retry must answer as the create did."""

    async def get(self, job_id: str) -> Job | None: ...

    async def get_many(self, job_ids: Sequence[str]) -> list[Job]: ...

    async def find(
        self,
        filter: Filter,
        sort: Sort = (("created", 1),),
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Job]: ...

    async def count(self, filter: Filter) -> int: ...

    async def count_by(self, field: str, filter: Filter) -> dict[str, int]:
        """Counts grouped by a top-level field (``status`` or ``type``)."""

    async def replace(self, doc: Job, expected_version: int, previous: Job | None = None) -> bool:
        """Write ``doc`` if the stored one still has ``expected_version``. ``doc["version"]``
        must already be ``expected_version + 1``. Returns False when the race was lost.
        ``previous``: the job as stored at ``expected_version``, if the caller has it; a store
        may use it instead of reading the stored row again."""

    async def delete(self, job_id: str, expected_version: int) -> bool: ...

    async def delete_many(self, jobs: Sequence[tuple[str, int]]) -> int:
        """Delete each ``(id, expected_version)`` still at that version, in one transaction
        (``jobs.clean`` sends chunks of ``CLEAN_CHUNK``); return how many were deleted. Each
        deletion is a ``delete`` change on the feed, as ``delete``'s."""

    async def claim(self, request: ClaimRequest) -> list[Job]:
        """Atomically move up to ``request.limit`` ready jobs to running for one worker, each
        stored as ``request.claim`` (``lifecycle.claim``) makes it, within the room
        ``livejobs.jobs.rules.room`` gives each type; return them as stored."""

    async def rate_opening(self, job_type: str, rules: TypeRules, now: float) -> float | None:
        """When the type's rate window next has room (None: it has room now, or no rate)."""

    async def due(self, now: float, limit: int = 500) -> list[Job]:
        """Jobs whose ``due`` time has come (``due <= now``), earliest first."""

    async def next_due(self) -> float | None:
        """The earliest ``due`` time of any job, for the scheduler's single timer."""

    def watch(self) -> Watcher:
        """Every committed change, in commit order, from now on, one at a time or as many as
        are waiting (``Watcher.batch``). One consumer per server."""

    # -- history (``livejobs.runtime.history``) -------------------------------------------------
    async def add_rollups(self, rows: Sequence[Rollup]) -> None:
        """Add each row's counts to the stored row of its (resolution, start, type), creating
        it: rows merge by adding, so every server sharing the store adds its own counts.
        ``rows`` holds each key once."""

    async def rollups(
        self, resolution: str, since: float, types: Sequence[str] | None = None
    ) -> list[Rollup]:
        """The rows of ``resolution`` from ``since`` on (of ``types`` only, if given), by
        start then type."""

    async def prune_rollups(self, resolution: str, before: float) -> int:
        """Delete the rows of ``resolution`` that start before ``before``; how many."""

    # -- small records: users, tokens, settings ---------------------------------------------
    async def put_record(self, kind: str, record_id: str, doc: dict[str, Any]) -> None: ...

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None: ...

    async def list_records(self, kind: str) -> list[dict[str, Any]]: ...

    async def delete_record(self, kind: str, record_id: str) -> bool: ...

    async def swap_record(self, kind: str, record_id: str, doc: dict[str, Any], rev: int) -> bool:
        """Write ``doc`` only if the stored record is at revision ``rev`` (``rules.rev_of``:
        0 for no record), atomically: False when another write came between."""
