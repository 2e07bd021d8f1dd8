"""The job document: its fields, statuses and priorities, defined once.

A job is a plain JSON-able dict so that it travels unchanged through the store, the change feed,
the WebSocket protocol and the SDK. This module names its fields and builds new documents; the
rules for changing one live in ``lifecycle``.

Fields (all times are seconds since the epoch, as floats):

- ``id``        str, unique.
- ``type``      str, what kind of work; workers ask for types.
- ``data``      any JSON value, the job's input.
- ``private``   any JSON value stored with the job, sent to admins and the worker running it.
- ``status``    one of ``Status``.
- ``priority``  int, lower runs first (job-collection's levels: see ``PRIORITIES``).
- ``retry``     ``{"retries": int, "wait": float, "backoff": "constant"|"exponential",
                 "max_wait": float|None}``, optionally ``"until": float``: ``retries`` failed
                 attempts are retried, none that would start after ``until``.
- ``attempts``  int, how many times the job was started.
- ``after``     float, not to start before this time.
- ``repeat``    ``None`` or ``{"every": float|None, "cron": str|None, "tz": str|None,
                 "times": int|None, "until": float|None, "fixed": bool, "run": int}``,
                 with ``fixed`` also ``"anchor": float`` (the first run's time).
- ``depends``   list of job ids that must complete first.
- ``dependants`` list of job ids waiting for this one (kept so a finish needs no search).
- ``results``   ``{dependency id: its result}``: what each completed dependency returned,
                 copied in as it completes, so the job's worker gets them with its work.
- ``key``       str or None: at most one unfinished job per key.
- ``unique_for`` float or None: with ``key``, the key also blocks new jobs for this many seconds
                 after its job finished (Oban's unique period).
- ``lifo``      bool: claimed before the older ready jobs of its priority (``claim_rank``).
- ``expire_at`` float or None: a job not started by then fails with reason "expired".
- ``target`` / ``exclude``  worker affinity: only that worker / never these workers.
- ``retain``    float or None: seconds a finished job is kept (None: the server default).
- ``debounce``  None or ``{"seconds", "max_wait", "first"}``: saves with the same key merge.
- ``time_limit`` float or None: seconds an attempt may run; then the server stops and fails it
                 (retried per ``retry``), however its worker heart-beats (``jobs.timelimit``).
- ``group``     str or None: the group (a tenant, say) whose per-group limits of the type's flow
                 rules (``jobs.rules``) the job counts against.
- ``trace``     None or ``{"traceparent": str, "tracestate": str}`` (tracestate optional): the
                 W3C trace context of the code that created the job, so that its run is traced
                 under the same trace (the SDK's OpenTelemetry spans); repeats and reruns start
                 without one. Bounds: ``livejobs.jobs.bounds``.
- ``log``       list of ``{"time", "level", "message", "data", "by", "kind"}``: ``kind`` is
                 ``audit`` for transitions (who did what, when), ``log`` for ``jobs.log`` lines.
- ``progress``  ``{"completed": float, "total": float, "percent": float}``.
- ``result``    any JSON value set on completion.
- ``failures``  list of ``{"time", "error", "worker", "attempt"}``.
- ``lease``     ``None`` or ``{"worker": str, "token": str, "expires": float}`` while running
                 (the token reaches only that worker). Who reads which field:
                 ``livejobs.visibility``.
- ``worker``    str or None: the worker that ran (or runs) the latest attempt.
- ``reason``    str or None: why the job failed or was cancelled.
- ``owner``     str, the user who created it.
- ``created`` / ``updated`` / ``started`` / ``finished``  times.
- ``due``       float or None: when the scheduler must next look at this job (derived).
- ``followups`` None or ``{"next": str|None, "at": float}``: what the job's finish still owes (its
                 next run's id, its dependants), paid by ``at`` at the latest (``followups``).
- ``version``   int, bumped by every change; conditional updates compare it.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from typing import Any

Job = dict[str, Any]


class Status(enum.StrEnum):
    WAITING = "waiting"  # delayed, or dependencies unfinished
    READY = "ready"  # may be handed to a worker now
    RUNNING = "running"  # leased to a worker
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
UNFINISHED = frozenset(Status) - FINISHED
QUEUED = frozenset({Status.WAITING, Status.READY, Status.PAUSED})
"""Unfinished and not running: what ``jobs.drain`` cancels."""

PRIORITIES: dict[str, int] = {
    "low": 10,
    "normal": 0,
    "medium": -5,
    "high": -10,
    "critical": -15,
}

#: the levels of a log line, least severe first
LOG_LEVELS = ("info", "success", "warning", "danger")

#: how a retry's wait grows (``retry.backoff``)
BACKOFFS = ("constant", "exponential")

DEFAULT_RETRY: dict[str, Any] = {
    "retries": 0,
    "wait": 0.0,
    "backoff": "constant",
    "max_wait": None,
}


def new_id() -> str:
    """32 hex digits: milliseconds since the epoch, then 80 bits. Time-ordered ids keep inserts
    at the end of the primary-key index instead of on a random page. The 80 bits start random
    at each new millisecond; within one (or when the clock steps back) each id a thread makes
    is the one before plus one, as ULID's monotonic ids: jobs created in turn whose creation
    times tie (a driven clock, a coarse one) are then still claimed in turn."""
    ms, last = time.time_ns() // 1_000_000, _last_id
    if ms > last.ms:
        last.ms, last.tail = ms, int(random_hex(10), 16) >> 1  # room for 2**79 more
    else:
        last.tail += 1
    return f"{last.ms:012x}{last.tail:020x}"


class _LastId(threading.local):
    """The last id this thread made (``new_id``)."""

    def __init__(self) -> None:
        self.ms, self.tail = -1, 0


_last_id = _LastId()


class _RandomPool(threading.local):
    """Bytes from the OS's CSPRNG, drawn 4 KiB at a time: one ``os.urandom`` call per job id
    and lease token was 4 % of the server's time at full load. One pool per thread, so no two
    callers are ever handed the same bytes."""

    def __init__(self) -> None:
        self.hex, self.at = "", 0


_pool = _RandomPool()


def _forget_after_fork() -> None:
    _pool.hex, _pool.at = "", 0  # a child must not repeat its parent's bytes
    _last_id.ms = -1  # ... nor follow its parent's last id with the same next one


os.register_at_fork(after_in_child=_forget_after_fork)


def random_hex(nbytes: int) -> str:
    """``secrets.token_hex(nbytes)``, cheaper: ``2 * nbytes`` hex digits nobody can guess."""
    pool, width = _pool, 2 * nbytes
    at = pool.at
    if at + width > len(pool.hex):
        pool.hex, at = os.urandom(4096).hex(), 0
    pool.at = at + width
    return pool.hex[at : at + width]


def priority_value(level: int | str) -> int:
    """Turn a named level or an integer into the stored integer (lower runs first)."""
    if isinstance(level, bool):
        raise ValueError("priority must be a level name or an integer")
    if isinstance(level, int):
        return level
    try:
        return PRIORITIES[level]
    except KeyError:
        names = ", ".join(PRIORITIES)
        raise ValueError(f"unknown priority {level!r}; use an integer or one of {names}") from None


def blank_job(job_type: str, data: Any, *, owner: str, now: float) -> Job:
    """A complete document with every field at its default; ``lifecycle.create`` finishes it."""
    return {
        "id": new_id(),
        "type": job_type,
        "data": data,
        "private": None,
        "status": "ready",  # Status.READY: a plain string, as every stored status
        "priority": 0,
        "retry": dict(DEFAULT_RETRY),
        "attempts": 0,
        "after": now,
        "repeat": None,
        "depends": [],
        "dependants": [],
        "results": {},
        "key": None,
        "unique_for": None,
        "lifo": False,
        "expire_at": None,
        "target": None,
        "exclude": [],
        "retain": None,
        "keep": None,
        "debounce": None,
        "trace": None,
        "time_limit": None,
        "group": None,
        "log": [],
        "progress": {"completed": 0, "total": 0, "percent": 0.0},
        "result": None,
        "failures": [],
        "lease": None,
        "worker": None,
        "reason": None,
        "owner": owner,
        "created": now,
        "updated": now,
        "started": None,
        "finished": None,
        "due": None,
        "followups": None,
        "version": 1,
    }
