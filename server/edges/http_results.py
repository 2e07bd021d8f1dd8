"""What each method answers, as msgspec types: the response half of the HTTP API's schemas.

The request half is ``livejobs.params``; both feed ``msgspec.json.schema_components`` in
``livejobs.edges.http_openapi``, so /openapi.json is derived from types, not written by hand. The
handlers return plain dicts (a job document travels unchanged from the store to the wire);
these types only describe them, and the schemathesis test checks real answers against them.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from livejobs.jobs.model import Status


class Job(Struct, kw_only=True):
    """A job document as a caller may read it (``livejobs.jobs.model`` documents each field):
    a field the caller's role may not read is absent (``livejobs.visibility``), so none is
    required. Times are seconds since the epoch."""

    id: str = ""
    type: str = ""
    status: Status = Status.READY
    #: lower runs first
    priority: int = 0
    data: Any = None
    #: for the worker holding the job, and admins reading one job
    private: Any = None
    attempts: int = 0
    after: float | None = None
    retry: dict[str, Any] | None = None
    repeat: dict[str, Any] | None = None
    depends: list[str] = []
    dependants: list[str] = []
    #: ``{dependency id: result}``: what each completed dependency returned
    results: dict[str, Any] = {}
    key: str | None = None
    #: with ``key``: seconds the key blocks new jobs after this one finished
    unique_for: float | None = None
    #: claimed before the older ready jobs of its priority
    lifo: bool = False
    expire_at: float | None = None
    target: str | None = None
    exclude: list[str] = []
    retain: float | None = None
    #: when it finishes: how many of its owner's newest jobs of its type and that status stay
    keep: dict[str, int] | None = None
    debounce: dict[str, Any] | None = None
    time_limit: float | None = None
    group: str | None = None
    #: ``{"time", "level", "message", "data", "by", "kind"}`` lines, oldest first
    log: list[dict[str, Any]] = []
    progress: dict[str, Any] | None = None
    result: Any = None
    #: ``{"time", "error", "worker", "attempt"}`` per failed attempt
    failures: list[dict[str, Any]] = []
    #: ``{"worker", "expires"}`` while running; ``token`` only in the holder's claim reply
    lease: dict[str, Any] | None = None
    worker: str | None = None
    reason: str | None = None
    owner: str = ""
    created: float = 0.0
    updated: float = 0.0
    started: float | None = None
    finished: float | None = None
    due: float | None = None
    #: bumped by every change
    version: int = 0


class Created(Struct):
    """``jobs.create_many``: the new jobs' ids, in the order of the request's ``jobs``."""

    ids: list[str]


class JobCounts(Struct):
    """``jobs.counts``: how many jobs per status and per type match the filter."""

    status: dict[str, int]
    type: dict[str, int]
    #: true when a callable read rule's count stopped at 10,000 jobs (absent otherwise)
    partial: bool = False


class ErrorBody(Struct):
    code: str
    message: str


class Bulk(Struct):
    """A control method given ``ids``: the ids it changed, and why each other one was not."""

    done: list[str]
    errors: dict[str, ErrorBody]


class Cleaned(Struct):
    """``jobs.clean``: how many finished jobs were removed."""

    removed: int


class Drained(Struct):
    """``jobs.drain``: how many queued jobs were cancelled."""

    cancelled: int


class Obliterated(Struct):
    """``types.obliterate``: the type's jobs cancelled, then removed, and those left."""

    cancelled: int
    removed: int
    kept: int


class Schedule(Struct):
    """``schedules.list``: one repeating job (a field the caller may not read is null)."""

    id: str
    key: str | None
    type: str
    repeat: dict[str, Any] | None
    status: Status
    owner: str | None
    #: when the next run is due
    next: float | None


class Expires(Struct):
    """``jobs.heartbeat``: when the extended lease now runs out."""

    expires: float


class HeldJob(Struct):
    """A job a worker holds, as last seen: ``expires`` is its lease's end (heartbeats move it)."""

    id: str
    type: str | None = None
    started: float | None = None
    expires: float | None = None


class WorkerInfo(Struct):
    worker_id: str
    user: str
    types: list[str]
    concurrency: int
    prefetch: int
    running: list[str]
    since: float
    jobs: list[HeldJob] = []


class Spread(Struct):
    """Wait or run times in seconds (``None`` without an observation)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None


class HistoryPoint(Struct):
    """One type's minute or hour (docs/protocol.md, "History")."""

    t: float
    created: int
    started: int
    completed: int
    failed: int
    retried: int
    cancelled: int
    throughput: float
    failure_rate: float | None
    depth: float | None
    wait: Spread
    run: Spread


class HistorySeries(Struct):
    type: str
    points: list[HistoryPoint]


class History(Struct):
    """``stats.history``: per type, a point per step that has counts."""

    resolution: str
    step: float
    since: float
    now: float
    series: list[HistorySeries]


class Health(Struct, omit_defaults=True):
    """``/healthz`` and ``/readyz``: ``ok``, and when not, what is wrong."""

    ok: bool
    #: ``draining`` while the server shuts down
    status: str | None = None
    problems: list[str] = []


Record = dict[str, Any]
"""A user, token or type-rules record, as ``livejobs.auth`` and ``livejobs.jobs.flow`` keep it."""

CONTROLS = (
    *("cancel", "restart", "pause", "resume", "ready", "rerun", "remove"),
    *("set_priority", "set_delay"),
)
LEASED = ("log", "progress", "done", "fail", "snooze")

RESULTS: dict[str, Any] = {
    "jobs.create": Job,
    "jobs.create_many": Created,
    "jobs.get": Job,
    "jobs.find": list[Job],
    "jobs.counts": JobCounts,
    "jobs.clean": Cleaned,
    "jobs.drain": Drained,
    "schedules.list": list[Schedule],
    "jobs.claim": list[Job],
    "jobs.heartbeat": Expires,
    "jobs.update_data": Job,
    **{f"jobs.{action}": (Job, Bulk) for action in CONTROLS if action != "remove"},
    "jobs.remove": (bool, Bulk),
    **{f"jobs.{action}": bool for action in LEASED},
    "workers.list": list[WorkerInfo],
    "stats.history": History,
    "types.set_limits": Record,
    "types.pause": Record,
    "types.set_retain": Record,
    "types.set_keep": Record,
    "types.resume": Record,
    "types.set_retry": Record,
    "types.set_time_limit": Record,
    "types.obliterate": Obliterated,
    "types.list": list[Record],
    "users.add": Record,
    "users.remove": bool,
    "users.list": list[Record],
    "tokens.create": Record,
    "tokens.list": list[Record],
    "tokens.revoke": bool,
}
"""Each method callable over HTTP, and the type of its ``result``; a pair for a control
method: what it answers for one ``id`` (the job route), and for ``ids`` (the bulk form)."""

WEBSOCKET_ONLY = (
    *("worker.start", "worker.stop", "worker.pause", "worker.resume"),
    *("subscribe", "unsubscribe", "types.watch", "workers.watch"),
)
"""Methods that act on the connection itself (a worker, a subscription): refused over HTTP."""
