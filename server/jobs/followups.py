"""What a finish owes, recorded in the finishing write itself (pure).

A finish may owe more writes: a repeating job's next run, the release (or the cancellation) of
the jobs that wait for it. They cannot share the finish's write on every store, so a server
dying between the two would end a schedule or strand the dependants for good. The finishing
document therefore records the debt (``followups``) and is due ``GRACE`` seconds later: the
server that finished it pays at once and clears it, and whichever server's scheduler finds a
debt still open when it falls due pays it. Paying twice is harmless: the next run's id is
chosen by the finish, and a dependant is released or cancelled only once.
"""

from __future__ import annotations

from collections.abc import Callable

from livejobs.jobs.lifecycle import due_at
from livejobs.jobs.model import Job, Status

#: seconds a debt is left to the server that finished the job before any scheduler pays it
GRACE = 30.0


def owe(doc: Job, *, next_id: Callable[[], str]) -> None:
    """Record in a finishing ``doc`` (in place) what its finish owes, if anything."""
    repeating = doc["status"] == Status.COMPLETED and bool(doc["repeat"])
    if not repeating and not doc.get("dependants"):
        doc["followups"] = None
        return
    at = float(doc["updated"]) + GRACE
    doc["followups"] = {"next": next_id() if repeating else None, "at": at}
    doc["due"] = at if doc["due"] is None else min(float(doc["due"]), at)


def paid(doc: Job, default_retain: float | None) -> Job:
    """``doc`` with its debt cleared, due again when its retention ends."""
    new = dict(doc, version=doc["version"] + 1, followups=None)
    new["due"] = due_at(new, default_retain)
    return new


def owed(doc: Job) -> bool:
    return bool(doc.get("followups"))
