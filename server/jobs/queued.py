"""A queued job moved in its queue by a manager or its owner, as BullMQ's ``changePriority``
and ``changeDelay``: pure transitions, as in ``lifecycle``."""

from __future__ import annotations

from livejobs.jobs.lifecycle import next_version, require_status, settle
from livejobs.jobs.model import QUEUED, Job


def set_priority(doc: Job, priority: int, *, by: str, now: float) -> Job:
    """A queued job's priority changed (BullMQ's ``changePriority``): it takes its new place
    among the ready jobs of its type."""
    require_status(doc, QUEUED, "change the priority of")
    new = next_version(doc, now, by, f"priority {doc['priority']} → {priority}")
    new["priority"] = priority
    return new


def set_delay(doc: Job, after: float, *, by: str, now: float) -> Job:
    """A queued job runs at ``after`` instead (BullMQ's ``changeDelay``): a ready job starts
    to wait, a delayed one may become ready now; a paused one keeps its pause."""
    require_status(doc, QUEUED, "delay")
    after = max(after, now)
    when = "now" if after <= now else f"in {after - now:g} s"
    new = next_version(doc, now, by, f"to run {when}")
    new["after"] = after
    return settle(new, now, None)
