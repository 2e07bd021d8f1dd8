"""Method parameters as msgspec Structs: the one place untrusted params are typed and bounded.

Each method's params are converted with ``decode_params`` before the method runs, so a handler
only ever sees well-typed values; unknown fields are rejected.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from livejobs.errors import Invalid
from livejobs.jobs.bounds import TRACEPARENT_CHARS, TRACESTATE_CHARS
from livejobs.roles import Role

#: a name (a job type, a group, a worker id, a user) is shown in logs, the CLI and the
#: dashboard, so it holds no control character: a newline could forge a line, an escape
#: sequence reach a terminal
NAME_PATTERN = "^[^\x00-\x1f\x7f-\x9f]*$"
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=NAME_PATTERN)]
JobId = Annotated[str, Meta(min_length=1, max_length=64)]
Seconds = Annotated[float, Meta(ge=0, le=10 * 365 * 86400)]
#: a duration that must be more than nothing (a repeat's step, a token's life)
Interval = Annotated[float, Meta(gt=0, le=10 * 365 * 86400)]
#: the end of year 9999: a later time is one no calendar (the CLI's, a browser's) can show
LAST_TIME = 253402300799.0
#: a moment, in seconds since the epoch
Moment = Annotated[float, Meta(ge=0, le=LAST_TIME)]
#: seconds an attempt may run before the server stops and fails it (a job's, or its type's)
TimeLimit = Annotated[float, Meta(gt=0, le=86400 * 31)]
Ids = Annotated[list[JobId], Meta(min_length=1, max_length=10_000)]
#: integers a SQLite column (signed 64 bits) can hold
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
Priority = Int64 | Annotated[str, Meta(max_length=20)]
#: names a create so that a retry of it returns the first answer (see docs/protocol.md)
RequestId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Params(Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Empty(Params):
    pass


class Auth(Params):
    token: Annotated[str, Meta(max_length=500)]
    #: the client accepts a JSON array of frames in one message
    batch: bool = False
    #: the protocol version the client speaks (livejobs.protocol.SUPPORTED_PROTOCOLS)
    protocol: int | None = None


class RetrySpec(Params):
    retries: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    wait: Seconds = 0.0
    backoff: Literal["constant", "exponential"] = "constant"
    max_wait: Seconds | None = None
    #: no retry starts after this time (seconds since the epoch)
    until: Moment | None = None


class RepeatSpec(Params):
    every: Interval | None = None
    cron: Annotated[str, Meta(max_length=200)] | None = None
    tz: Annotated[str, Meta(max_length=64)] | None = None
    times: Annotated[int, Meta(ge=1)] | None = None
    until: Moment | None = None
    #: ``every`` in fixed steps from the first run's time, not counted from each finish
    fixed: bool = False


class DebounceSpec(Params):
    seconds: Annotated[float, Meta(gt=0, le=86400)]
    max_wait: Interval | None = None


#: the very end of a string (``$`` also matches before a final newline, which would let one
#: through to whoever copies the value into a header)
_END = r"(?![\s\S])"
#: version, trace id, parent span id, flags; a later version may add fields after a dash
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?" + _END
#: printable ASCII, as in an HTTP header
TRACESTATE = r"^[ -~]*" + _END


class TraceSpec(Params):
    """A W3C trace context (www.w3.org/TR/trace-context): the creator's span, for the run."""

    traceparent: Annotated[str, Meta(max_length=TRACEPARENT_CHARS, pattern=TRACEPARENT)]
    tracestate: Annotated[str, Meta(max_length=TRACESTATE_CHARS, pattern=TRACESTATE)] | None = None


FinishedStatus = Literal["completed", "failed", "cancelled"]
#: per finished status, how many of a type's newest jobs are kept (``types.set_keep``, a job's
#: ``keep``)
KeepCounts = dict[FinishedStatus, Annotated[int, Meta(ge=0, le=10_000_000)]]


class JobSpec(Params):
    type: Name
    data: Any = None
    priority: Priority = 0
    retry: RetrySpec | None = None
    delay: Seconds | None = None
    after: Moment | None = None
    repeat: RepeatSpec | None = None
    depends: Annotated[list[JobId], Meta(max_length=1000)] = []
    key: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    expire: Seconds | None = None
    target: Name | None = None
    exclude: Annotated[list[Name], Meta(max_length=100)] = []
    retain: Seconds | None = None
    keep: KeepCounts | None = None
    private: Any = None
    debounce: DebounceSpec | None = None
    trace: TraceSpec | None = None
    lifo: bool = False
    unique_for: Seconds | None = None
    time_limit: TimeLimit | None = None
    group: Name | None = None


class CreateJob(JobSpec):
    """``jobs.create``: a job, and the ``request_id`` that makes retrying the call safe."""

    request_id: RequestId | None = None


class CreateMany(Params):
    jobs: Annotated[list[JobSpec], Meta(min_length=1)]
    request_id: RequestId | None = None
    #: a fan-in (chord): one more job that depends on all of ``jobs``; its id comes last
    then: JobSpec | None = None


class JobRef(Params):
    id: JobId


class JobRefs(Params):
    """``{id}`` for one job or ``{ids}`` for the bulk form of a control method."""

    id: JobId | None = None
    ids: Ids | None = None
    reason: Annotated[str, Meta(max_length=1000)] | None = None


class CancelRefs(JobRefs):
    #: also cancel the unfinished jobs it depends on, and theirs
    antecedents: bool = False


class PriorityRefs(JobRefs, kw_only=True):
    """``jobs.set_priority``: the queued job's new priority, an integer or a level name."""

    priority: Priority


class DelayRefs(JobRefs, kw_only=True):
    """``jobs.set_delay``: the queued job runs ``delay`` seconds from now, or at ``after`` (a
    Unix time); one of the two."""

    delay: Seconds | None = None
    after: Moment | None = None


class RestartRefs(JobRefs):
    #: also bring back the dependants its failure cancelled, and theirs
    dependents: bool = False


class ReadyRefs(JobRefs):
    #: run even though dependencies are unfinished: it no longer waits for them
    force: bool = False


class Find(Params):
    filter: dict[str, Any] = {}
    sort: Any = None
    limit: Annotated[int, Meta(ge=1, le=10_000)] = 1000
    skip: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 0


class Clean(Params):
    """``jobs.clean``: remove the finished jobs matching ``filter`` (at most ``limit``)."""

    filter: dict[str, Any] = {}
    limit: Annotated[int, Meta(ge=1, le=2**63 - 1)] | None = None


class Drain(Params):
    """``jobs.drain``: cancel the queued jobs (waiting, ready, paused) matching ``filter`` (at
    most ``limit``), saying ``reason``."""

    filter: dict[str, Any] = {}
    limit: Annotated[int, Meta(ge=1, le=2**63 - 1)] | None = None
    reason: Annotated[str, Meta(max_length=1000)] | None = None


class Counts(Params):
    filter: dict[str, Any] = {}


class Subscribe(Params):
    """The whole filter; or, with ``limit``, a live window of it (``sort``, ``skip``); or,
    with ``counts``, its live counts per status and type (``livejobs.runtime.windows``)."""

    filter: dict[str, Any] = {}
    sort: Any = None
    limit: Annotated[int, Meta(ge=1, le=1000)] | None = None
    skip: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    counts: bool = False


class Unsubscribe(Params):
    sub: Annotated[str, Meta(max_length=64)]


class WorkerStart(Params):
    types: Annotated[list[Name], Meta(min_length=1, max_length=100)]
    concurrency: Annotated[int, Meta(ge=1, le=10_000)] = 1
    #: jobs pushed ahead of a free handler, so the next one is there when one finishes
    prefetch: Annotated[int, Meta(ge=0, le=10_000)] = 0
    worker_id: Name | None = None
    lease: Annotated[float, Meta(ge=1, le=86400)] | None = None
    #: registered paused (``worker.pause``): a client reconnecting while paused gets nothing
    paused: bool = False


class Claim(Params):
    types: Annotated[list[Name], Meta(min_length=1, max_length=100)]
    limit: Annotated[int, Meta(ge=1, le=1000)] = 1
    lease: Annotated[float, Meta(ge=1, le=86400)] | None = None
    worker_id: Name | None = None
    #: seconds to wait for work when none is ready (a blocking claim), woken as pushes are
    wait: Annotated[float, Meta(ge=0, le=60)] = 0.0


class Leased(Params):
    id: JobId
    lease: Annotated[str, Meta(max_length=100)]


class Heartbeat(Leased):
    pass


class Log(Params):
    id: JobId
    message: Annotated[str, Meta(max_length=10_000)]
    lease: Annotated[str, Meta(max_length=100)] | None = None
    level: Literal["info", "success", "warning", "danger"] = "info"
    data: Any = None


class Progress(Leased):
    completed: Annotated[float, Meta(ge=0)]
    total: Annotated[float, Meta(ge=0)]


class UpdateData(Leased):
    data: Any
    #: update the top-level keys of an object instead of replacing the data
    merge: bool = False


class Done(Leased):
    result: Any = None


class Fail(Leased):
    error: Any
    fatal: bool = False


class Snooze(Leased):
    seconds: Seconds


class TypeRef(Params):
    type: Name


class TypeChange(Params):
    """A change of a type's rules; ``rev``, the revision the caller read (``types.list``),
    makes it refused (``conflict``) if the rules changed since."""

    type: Name
    rev: Annotated[int, Meta(ge=0)] | None = None


class TypeRetain(TypeChange):
    """``types.set_retain``: seconds finished jobs of ``type`` are kept (null: the server's)."""

    retain: Seconds | None = None


class TypeKeep(TypeChange):
    """``types.set_keep``: per finished status, how many of the type's newest jobs are kept
    (older ones are removed); null or empty: no count, retention by age alone."""

    keep: KeepCounts | None = None


class TypeLimits(TypeChange):
    """Omitted limits are removed; ``rate_limit`` and ``rate_per`` go together."""

    rate_limit: Annotated[int, Meta(ge=1)] | None = None
    rate_per: Annotated[float, Meta(gt=0, le=86400 * 31)] | None = None
    concurrency: Annotated[int, Meta(ge=0)] | None = None
    #: the same limits for each group of the type's jobs (a job's ``group``: a tenant, say)
    group_concurrency: Annotated[int, Meta(ge=0)] | None = None
    group_rate_limit: Annotated[int, Meta(ge=1)] | None = None
    group_rate_per: Annotated[float, Meta(gt=0, le=86400 * 31)] | None = None


class TypeRetry(TypeChange):
    """The retry policy of the type's jobs created without one; None removes it."""

    retry: RetrySpec | None = None


class TypeTimeLimit(TypeChange):
    """The time limit of the type's jobs created without one; None removes it."""

    time_limit: TimeLimit | None = None


class TypeObliterate(Params):
    """``types.obliterate``: every job of ``type`` and its rules gone; ``force`` cancels its
    running jobs too, saying ``reason``."""

    type: Name
    force: bool = False
    reason: Annotated[str, Meta(max_length=1000)] | None = None


class UserAdd(Params):
    name: Name
    role: Role
    types: Annotated[list[Name], Meta(max_length=100)] | None = None


class UserRef(Params):
    name: Name


class TokenCreate(Params):
    user: Name
    expires: Interval | None = None


class TokenList(Params):
    user: Name | None = None


class TokenRevoke(Params):
    id: Annotated[str, Meta(max_length=64)]


class StatsHistory(Params):
    """``since`` (epoch seconds) defaults to 60 steps back (an hour of minutes, 60 hours),
    and goes at most 1,488 steps back (``runtime.history.MAX_STEPS``)."""

    type: Name | None = None
    resolution: Literal["minute", "hour"] = "minute"
    since: Moment | None = None


P = TypeVar("P", bound=Params)


#: how msgspec names a failed ``NAME_PATTERN``, which no reader should have to decode
_PATTERN_SAID = re.compile(r"matching regex '[^']*'")


def decode_params(params: Any, kind: type[P]) -> P:
    """Convert untrusted JSON params into ``kind`` or raise ``Invalid`` saying what is wrong."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise Invalid("params must be an object")
    try:
        return msgspec.convert(params, kind)
    except msgspec.ValidationError as exc:
        said = _PATTERN_SAID.sub("without control characters (newlines, tabs, escapes)", str(exc))
        raise Invalid(f"bad params: {said}") from None
