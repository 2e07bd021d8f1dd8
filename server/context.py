"""What a method handler receives: ``Ctx`` (who is calling, the call, the services, the
WebSocket session if any) and ``Services`` (everything a method may use)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from livejobs.auth import Auth, Identity
from livejobs.clock import Clock
from livejobs.credentials import Credentials
from livejobs.errors import Forbidden, Invalid, NotFound
from livejobs.jobs.model import Job
from livejobs.permissions import Permissions
from livejobs.query import parse_filter, parse_sort
from livejobs.runtime.connection import Connection
from livejobs.runtime.dispatch import Dispatcher
from livejobs.runtime.history import History
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.runtime.user_reads import UserReads
from livejobs.runtime.workers import WorkerWatch
from livejobs.service import JobService
from livejobs.settings import Settings
from livejobs.store.base import Store
from livejobs.visibility import check_filter, check_sort, view


@dataclass(slots=True)
class Services:
    """Everything a method may use; built once by the app's lifespan."""

    settings: Settings
    store: Store
    clock: Clock
    jobs: JobService
    auth: Auth
    permissions: Permissions
    subscriptions: Subscriptions
    dispatcher: Dispatcher
    credentials: Credentials | None = None  # set by the app's lifespan
    history: History | None = None  # set by the app's lifespan
    workers: WorkerWatch | None = None  # set by the app's lifespan
    #: each user's reads by filter take turns (shared with the subscriptions' snapshots)
    reads: UserReads = field(default_factory=UserReads)


@dataclass(slots=True)
class Ctx:
    identity: Identity
    services: Services
    session: Connection | None
    method: str
    raw: dict[str, Any]

    async def job(self, job_id: str, method: str | None = None, *, cas: bool = False) -> Job:
        """Load a job and check that this identity may call ``method`` on it.

        ``cas``: the caller only uses the job for a compare-and-set write, so the dispatcher's
        copy of a job it pushed will do (a stale copy just makes the write re-read)."""
        held = self.services.dispatcher.held(job_id) if cas else None
        doc = held or await self.services.jobs.lookup(job_id)
        if doc is None or not self.may_read(doc):
            raise NotFound(f"no job {job_id}")  # a job it may not read is one it never heard of
        self.services.permissions.check(self.identity, method or self.method, self.raw, doc)
        return doc

    def may_read(self, doc: Job) -> bool:
        return self.services.permissions.may_read(self.identity, doc)

    def may_all(self, *methods: str) -> Callable[[Job], bool]:
        """Whether this identity may read a job and call every one of ``methods`` on it: a
        call by filter acts on a job only as the per-job calls would (their deny rules hold)."""
        permissions, identity = self.services.permissions, self.identity

        def may(doc: Job) -> bool:
            try:
                for method in methods:
                    permissions.check(identity, method, self.raw, doc)
            except Forbidden:
                return False
            return self.may_read(doc)

        return may

    def query(self, raw: Any) -> dict[str, Any]:
        """A client's filter, checked against the fields this role may filter on (before any
        job is read, so a refusal reveals nothing), then narrowed to the rows it may read."""
        check_filter(filter := parse_filter(raw), self.identity.role)
        scope = self.services.permissions.read_scope(self.identity, self.method)
        if scope is None:
            return filter
        return {"$and": [filter, scope]} if filter else scope

    def need_session(self) -> Connection:
        if self.session is None:
            raise Invalid(f"{self.method} needs a WebSocket connection")
        return self.session

    def order(self, raw: Any) -> list[tuple[str, int]]:
        check_sort(sort := parse_sort(raw), self.identity.role)
        return sort

    def show(self, doc: Job) -> Job:
        """The job as this identity may read it (``livejobs.visibility``); a worker's own ids are
        its user name (an HTTP claim's default) and the workers its connection started."""
        mine = self.session.worker_ids() if self.session else []
        return view(doc, self.identity.role, (self.identity.user, *mine), self.identity.user)


Handler = Callable[[Ctx, Any], Awaitable[Any]]
