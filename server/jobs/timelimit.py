"""Per-job time limits (``time_limit``): pure, no I/O.

An attempt of a job with a ``time_limit`` gets a ``deadline`` in its lease when it starts; the
scheduler fails it there (retried per its policy) however often its worker heart-beats, the
dispatcher tells the worker to stop it, and its old lease is refused with a note saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livejobs.jobs.model import Job

#: how a failure for running past ``time_limit`` begins (see ``error``)
TIME_LIMIT = "time limit exceeded"


def start(new: Job, now: float) -> None:
    """A claimed attempt of a time-limited job gets its ``lease.deadline`` (heart-beating does
    not move it), and the scheduler looks at it then. In place."""
    if limit := new.get("time_limit"):
        new["lease"]["deadline"] = now + limit
        new["due"] = min(new["due"], now + limit)


def over_time(doc: Job, now: float) -> bool:
    """Whether a running job's attempt has run past its ``time_limit``."""
    lease = doc.get("lease")
    return bool(lease and lease.get("deadline") is not None and lease["deadline"] <= now)


def error(doc: Job) -> str:
    """The failure a time-limited attempt gets."""
    return f"{TIME_LIMIT}: ran past {doc.get('time_limit') or 0:g}s"


def is_stop(failure: Mapping[str, Any] | None) -> bool:
    """Whether a failure entry is an attempt stopped at its time limit."""
    return failure is not None and str(failure.get("error", "")).startswith(TIME_LIMIT)


def stopped_note(doc: Job) -> str:
    """Why an old lease is refused, when its attempt was stopped at the time limit."""
    failures = doc.get("failures") or []
    if failures and is_stop(failures[-1]):
        return f" (an attempt was stopped: {failures[-1]['error']})"
    return ""
