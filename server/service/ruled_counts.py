"""Counts under a callable read rule. Such a rule is a function of one job, which neither a
filter nor the store's count table can express, so the matching jobs are read and counted one
by one, at most ``READER_SCAN`` of them a count: past that, the counts say ``partial`` rather
than count what the rule hides or read a million jobs for one tally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livejobs.jobs.model import Job
from livejobs.store.base import Filter, Store

READER_SCAN = 10_000
"""Jobs read at most for one count, or one reread of a live window, under a callable rule."""


async def count(store: Store, filter: Filter, reader: Callable[[Job], bool]) -> dict[str, Any]:
    """``jobs.counts``' answer and a count feed's ``by_type``, of the jobs ``reader`` passes
    among the first ``READER_SCAN`` that match; ``partial: true`` when more matched."""
    scan = READER_SCAN
    found = await store.find(filter, limit=scan + 1)  # the oldest first
    status: dict[str, int] = {}
    by_type: dict[str, dict[str, int]] = {}
    for doc in found[:scan]:
        if reader(doc):
            status[doc["status"]] = status.get(doc["status"], 0) + 1
            of_type = by_type.setdefault(doc["type"], {})
            of_type[doc["status"]] = of_type.get(doc["status"], 0) + 1
    types = {name: sum(per.values()) for name, per in by_type.items()}
    counts: dict[str, Any] = {"status": status, "type": types, "by_type": by_type}
    if len(found) > scan:
        counts["partial"] = True
    return counts
