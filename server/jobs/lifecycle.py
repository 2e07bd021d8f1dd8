"""Job transitions as pure functions: document (+ event) → new document. No I/O here.

Each function checks that the move is legal from the job's current status and raises
``Conflict`` otherwise, so a caller that lost a race to another transition gets a clear error.
Every function returns a new dict with ``version`` bumped, ``updated`` set, ``due`` recomputed
and an audit entry appended to ``log``; the store then writes it with a compare-and-set on the
old version.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from livejobs.errors import Conflict, Forbidden, Invalid
from livejobs.jobs import bounds, timelimit
from livejobs.jobs.bounds import DocLimits, append_log, clip_error, clip_text
from livejobs.jobs.model import UNFINISHED, Job, Status, random_hex
from livejobs.jobs.timelimit import stopped_note

# the statuses as plain strings, read off the enum: an enum member costs an attribute lookup
# and a slower comparison per use (3.11), and these run for every job at every step
_WAITING, _READY, _RUNNING, _PAUSED, _COMPLETED, _FAILED, _CANCELLED = map(str, Status)
_ONLY_READY, _ONLY_RUNNING = frozenset({_READY}), frozenset({_RUNNING})

_DEFAULT = DocLimits()

#: the longest a retry waits, whatever its back-off: the longest ``delay`` a job may be given
LONGEST_RETRY_WAIT = 10 * 365 * 86400.0


def copy_doc(doc: Job) -> Job:
    """A copy safe to change: the containers transitions mutate are copied, user values
    (data, result, private) are shared since no transition changes them in place."""
    new = dict(doc)
    for name in ("log", "failures", "depends", "exclude"):
        new[name] = list(doc[name])
    new["dependants"] = list(doc.get("dependants") or [])
    for name in ("retry", "progress", "lease", "repeat", "debounce"):
        if doc.get(name) is not None:
            new[name] = dict(doc[name])
    return new


def next_version(doc: Job, now: float, by: str, message: str, level: str = "info") -> Job:
    """A copy of ``doc`` one version on, saying ``message`` in its log (every transition's
    first step)."""
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    append_log(new, now=now, by=by, message=message, level=level)
    return new


def require_status(doc: Job, allowed: set[Status] | frozenset[str], action: str) -> None:
    if doc["status"] not in allowed:
        names = "/".join(sorted(allowed))
        raise Conflict(f"cannot {action} job {doc['id']}: it is {doc['status']}, not {names}")


def due_at(doc: Job, default_retain: float | None) -> float | None:
    """When the scheduler must next look at this job; stored as ``due`` and indexed."""
    status = doc["status"]
    expire_at: float | None = doc["expire_at"]
    if status == _WAITING:
        if doc["depends"]:
            return expire_at
        after = float(doc["after"])
        return after if expire_at is None else min(after, expire_at)
    if status == _READY:
        return expire_at
    if status == _RUNNING:
        lease = doc["lease"]
        return None if not lease else min(lease["expires"], lease.get("deadline") or math.inf)
    if status in (_COMPLETED, _FAILED, _CANCELLED):  # every finished job is pruned alike
        retain = doc["retain"] if doc["retain"] is not None else default_retain
        pruned = math.inf if retain is None else float(doc["finished"] or doc["updated"]) + retain
        owed = doc.get("followups")  # what its finish still owes comes first (``followups``)
        due = min(pruned, owed["at"]) if owed else pruned
        return None if due == math.inf else due
    return None


def settle(doc: Job, now: float, default_retain: float | None) -> Job:
    """Place a waiting/ready job in the right one of the two, and set ``due``. In place."""
    if doc["status"] in (_WAITING, _READY):
        waiting = bool(doc["depends"]) or doc["after"] > now
        doc["status"] = _WAITING if waiting else _READY
    doc["due"] = due_at(doc, default_retain)
    return doc


# -- worker side --------------------------------------------------------------------------


def claim(doc: Job, *, worker_id: str, user: str, now: float, lease_seconds: float) -> Job:
    """ready → running, leased to one worker. Every store applies this very document (a
    conditional write on the version, or under the row's lock), so all store the same."""
    require_status(doc, _ONLY_READY, "claim")
    attempt = doc["attempts"] + 1
    new = next_version(doc, now, worker_id, f"started by worker {worker_id} (attempt {attempt})")
    expires = now + lease_seconds
    new.update(
        status=_RUNNING, worker=worker_id, started=now, due=expires, attempts=attempt,
        lease={"worker": worker_id, "token": random_hex(16), "expires": expires},
        progress={"completed": 0, "total": 0, "percent": 0.0},
    )  # fmt: skip
    timelimit.start(new, now)
    return new


def claim_rank(doc: Job) -> float:
    """A job's place among the ready jobs of its priority, stored as each store's ``rank``:
    its creation time, negated for a LIFO job, so that LIFO jobs come first, newest first."""
    created = float(doc["created"])
    return -created if doc.get("lifo") else created


def claim_order(doc: Job) -> tuple[Any, ...]:
    """Which ready job is claimed first: by priority, then ``claim_rank``, then the id."""
    return (doc["priority"], claim_rank(doc), doc["id"])


def _require_lease(doc: Job, lease_token: str, action: str) -> None:
    """Only the holder of the current lease may report on a running job."""
    lease = doc.get("lease")
    if doc["status"] != _RUNNING or not lease:
        state = f"it is {doc['status']}, not running"
        raise Conflict(f"cannot {action} job {doc['id']}: {state}{stopped_note(doc)}")
    if not secrets.compare_digest(lease["token"].encode(), lease_token.encode()):
        stale = "the lease token is not the current one"
        raise Forbidden(f"cannot {action} job {doc['id']}: {stale}{stopped_note(doc)}")


def heartbeat(doc: Job, *, lease_token: str, now: float, lease_seconds: float) -> Job:
    """Extend the lease; no audit entry (it would flood the log)."""
    _require_lease(doc, lease_token, "extend the lease of")
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    new["lease"]["expires"] = now + lease_seconds
    new["due"] = due_at(new, None)
    return new


def progress(doc: Job, *, lease_token: str, completed: float, total: float, now: float) -> Job:
    _require_lease(doc, lease_token, "report progress on")
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    percent = 100.0 * completed / total if total else 0.0
    new["progress"] = {"completed": completed, "total": total, "percent": round(percent, 2)}
    return new


def update_data(doc: Job, *, lease_token: str, data: Any, merge: bool, now: float) -> Job:
    """The running job's data, changed by its handler (JobReactor's arguments on the fly,
    BullMQ's ``updateData``): replaced, or with ``merge`` its top-level keys updated."""
    _require_lease(doc, lease_token, "update the data of")
    if merge and not (isinstance(doc["data"], dict) and isinstance(data, dict)):
        raise Invalid(f"cannot merge into job {doc['id']}: its data and the update must be objects")
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    new["data"] = {**doc["data"], **data} if merge else data
    return new


def log(  # fmt: skip
    doc: Job,
    *,
    lease_token: str | None,
    message: str,
    level: str,
    data: Any,
    by: str,
    now: float,
    limits: DocLimits = _DEFAULT,
) -> Job:
    """A log line from the worker (must hold the lease) or from a controller (token None),
    cut to the limits' entry size; the oldest entries go past their count."""
    if lease_token is not None:
        _require_lease(doc, lease_token, "log to")
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    message, data = bounds.clip_entry(message, data, limits.log_entry_bytes)
    keep = limits.log_entries
    append_log(new, now=now, by=by, message=message, level=level, data=data, kind="log", keep=keep)
    return new


def complete(
    doc: Job, *, lease_token: str, result: Any, by: str, now: float, default_retain: float | None
) -> Job:
    _require_lease(doc, lease_token, "complete")
    new = next_version(doc, now, by, "completed", level="success")
    new.update(status=_COMPLETED, result=result, lease=None, finished=now)
    new["progress"] = {
        "completed": new["progress"]["total"] or 1,
        "total": new["progress"]["total"] or 1,
        "percent": 100.0,
    }
    new["due"] = due_at(new, default_retain)
    return new


def _retry_wait(doc: Job) -> float:
    """The back-off before the next attempt: ``wait``, doubled per attempt when exponential,
    capped by ``max_wait`` and by ``LONGEST_RETRY_WAIT`` (a million doublings overflow a float,
    which failed the failing itself)."""
    policy = doc["retry"]
    wait = float(policy["wait"])
    cap = LONGEST_RETRY_WAIT
    if policy["max_wait"] is not None:
        cap = min(cap, float(policy["max_wait"]))
    if policy["backoff"] == "exponential" and 0 < wait < cap:
        doublings = max(doc["attempts"] - 1, 0)
        if doublings >= math.log2(cap) - math.log2(wait):
            return cap
        wait = math.ldexp(wait, doublings)
    return min(wait, cap)


def retries_left(doc: Job) -> int:
    return int(doc["retry"]["retries"]) + 1 - int(doc["attempts"])


def will_retry(doc: Job, wait: float, now: float) -> bool:
    """Attempts left, and the next one would start by the policy's ``until`` (if any)."""
    until = doc["retry"].get("until")
    return retries_left(doc) > 0 and (until is None or now + wait <= float(until))


def fail(
    doc: Job,
    *,
    error: Any,
    by: str,
    now: float,
    fatal: bool = False,
    lease_token: str | None = None,
    reason: str | None = None,
    default_retain: float | None = None,
    limits: DocLimits = _DEFAULT,
) -> Job:
    """running → waiting/ready (retry with backoff) or failed (fatal or out of attempts).

    ``lease_token`` None is the server failing the job itself (lease expired, worker lost).
    The error is cut to the limits' size; a job keeps its newest ``bounds.MAX_FAILURES``.
    """
    if lease_token is not None:
        _require_lease(doc, lease_token, "fail")
    else:
        require_status(doc, _ONLY_RUNNING, "fail")
    worker = doc["lease"]["worker"] if doc.get("lease") else None
    error = clip_error(error, limits.error_bytes)
    headline = clip_text(_reason(error), limits.log_entry_bytes - len("failed: "))
    # the log says what failed in one line; the traceback stays in ``failures`` (rendered by
    # livejobs.failures), not as a dict's repr with literal \n in the audit trail
    new = next_version(doc, now, by, f"failed: {headline}", level="danger")
    new["failures"].append(
        {"time": now, "error": error, "worker": worker, "attempt": doc["attempts"]}
    )
    bounds.trim_failures(new["failures"])
    new["lease"] = None
    wait = _retry_wait(doc)
    if not fatal and will_retry(doc, wait, now):
        new["status"] = _WAITING
        new["after"] = now + wait
        append_log(new, now=now, by="server", message=f"will retry in {wait:g}s", level="warning")
        return settle(new, now, default_retain)
    new.update(status=_FAILED, finished=now, reason=reason or headline)
    new["due"] = due_at(new, default_retain)
    return new


def _reason(error: Any) -> str:
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])
    return str(error)


def snooze(doc: Job, *, lease_token: str, seconds: float, by: str, now: float) -> Job:
    """Put a running job back for later without counting the attempt."""
    _require_lease(doc, lease_token, "snooze")
    new = next_version(doc, now, by, f"snoozed for {seconds:g}s")
    new.update(status=_WAITING, after=now + seconds, lease=None)
    new["attempts"] = max(doc["attempts"] - 1, 0)
    return settle(new, now, None)


# -- control side -------------------------------------------------------------------------


def cancel(
    doc: Job, *, by: str, now: float, reason: str = "cancelled", default_retain: float | None = None
) -> Job:
    require_status(doc, {Status.WAITING, Status.READY, Status.RUNNING, Status.PAUSED}, "cancel")
    new = next_version(
        doc, now, by, f"cancelled ({reason})" if reason != "cancelled" else "cancelled", "warning"
    )
    new.update(status=_CANCELLED, lease=None, finished=now, reason=reason)
    new["due"] = due_at(new, default_retain)
    return new


def restart(doc: Job, *, by: str, now: float, retries: int | None = None) -> Job:
    """failed/cancelled → ready (or waiting) with fresh attempts."""
    require_status(doc, {Status.FAILED, Status.CANCELLED}, "restart")
    new = next_version(doc, now, by, "restarted")
    new.update(status=_READY, attempts=0, finished=None, reason=None, result=None)
    new["after"] = now
    if retries is not None:
        new["retry"]["retries"] = retries
    return settle(new, now, None)


def pause(doc: Job, *, by: str, now: float) -> Job:
    require_status(doc, {Status.WAITING, Status.READY}, "pause")
    new = next_version(doc, now, by, "paused")
    new["status"] = _PAUSED
    new["due"] = None
    return new


def resume(doc: Job, *, by: str, now: float) -> Job:
    require_status(doc, {Status.PAUSED}, "resume")
    new = next_version(doc, now, by, "resumed")
    new["status"] = _READY
    return settle(new, now, None)


def ready_now(doc: Job, *, by: str, now: float, force: bool = False) -> Job:
    """A delayed (waiting) job runs now: ``after`` moves to now.

    Unfinished dependencies still hold it, unless ``force``: then it no longer waits for them."""
    require_status(doc, {Status.WAITING}, "make ready")
    dropped = doc["depends"] if force else []
    message = f"made ready now despite {', '.join(dropped)}" if dropped else "made ready now"
    new = next_version(doc, now, by, message, "warning" if dropped else "info")
    new["after"] = now
    if force:
        new["depends"] = []
    return settle(new, now, None)


def revive(doc: Job, *, dependency: str, completed: set[str], by: str, now: float) -> Job:
    """A dependant cancelled by ``dependency``'s failure waits again, now that the dependency
    was restarted; the dependencies that completed meanwhile are dropped."""
    if not (doc.get("reason") or "").startswith(f"dependency {dependency} "):
        raise Conflict(f"job {doc['id']} was not cancelled by dependency {dependency}")
    new = restart(doc, by=by, now=now)
    new["depends"] = [d for d in new["depends"] if d not in completed]
    return settle(new, now, None)


def promote(doc: Job, *, now: float) -> Job:
    """Scheduler: a waiting job whose time has come (and whose dependencies are met) → ready."""
    require_status(doc, {Status.WAITING}, "promote")
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    return settle(new, now, None)


def dependencies_met(
    doc: Job, *, completed: set[str], now: float, results: dict[str, Any] | None = None
) -> Job:
    """Drop finished dependencies, keeping their ``results`` for the job's worker; with none
    left the job settles to ready (or waits for after)."""
    require_status(doc, {Status.WAITING, Status.PAUSED}, "resolve dependencies of")
    new = next_version(doc, now, "server", f"dependencies done: {', '.join(sorted(completed))}")
    new["depends"] = [d for d in doc["depends"] if d not in completed]
    if results:
        new["results"] = {**(doc.get("results") or {}), **results}
    return settle(new, now, None)


def add_dependant(doc: Job, *, dependant: str, now: float) -> Job:
    """Remember that ``dependant`` waits for this unfinished job (no audit entry: bookkeeping)."""
    require_status(doc, UNFINISHED, "add a dependant to")
    new = copy_doc(doc)
    new["version"] = doc["version"] + 1
    new["updated"] = now
    if dependant not in new["dependants"]:
        new["dependants"].append(dependant)
    return new


def expire(doc: Job, *, now: float, default_retain: float | None = None) -> Job:
    require_status(doc, {Status.WAITING, Status.READY}, "expire")
    new = next_version(doc, now, "server", "expired: nobody started it in time", "danger")
    new.update(status=_FAILED, finished=now, reason="expired")
    new["due"] = due_at(new, default_retain)
    return new
