"""History rollups, pure: what one write adds to its type's minute and hour, and what a
rollup reads as (throughput, failure rate, queue depth, wait and run time percentiles).

A rollup is a flat ``{name: number}`` per (resolution, start, type) in which every number
merges by adding: counts, sums, and the counts of fixed histogram bins (``wait_3`` is how many
waits fell in bin 3 of ``BOUNDS``). So rows written by several servers for the same minute, or
by one server in several batches, add up to the same thing, and percentiles come from the sum.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Literal

from livejobs.jobs.model import Job

Resolution = Literal["minute", "hour"]
#: seconds per bucket of each resolution
STEP: dict[str, float] = {"minute": 60.0, "hour": 3600.0}
#: upper bounds (seconds) of the wait and run time bins; the last bin is everything above
BOUNDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400)
#: the counts a rollup keeps (besides the depth samples and the two histograms)
EVENTS = ("created", "started", "completed", "failed", "retried", "cancelled")
QUANTILES = (0.5, 0.9, 0.99)

Counts = dict[str, float]


def start_of(at: float, resolution: str) -> float:
    """The start of the bucket ``at`` falls in."""
    step = STEP[resolution]
    return math.floor(at / step) * step


def add(into: Counts, more: Counts) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def counted(before: str | None, doc: Job) -> Counts:
    """What a committed write (the job's status before it, None for a new job) adds."""
    out: Counts = {}
    status = doc["status"]
    if before is None:
        out["created"] = 1
    if status == "running" and before != "running":
        out["started"] = 1
        since = max(doc["created"], doc.get("after") or 0.0)
        _observe(out, "wait", doc["started"] - since)
    if before == "running" and status != "running" and doc.get("started") is not None:
        _observe(out, "run", doc["updated"] - doc["started"])
        failures = doc.get("failures") or []
        if status != "failed" and failures and failures[-1].get("time") == doc["updated"]:
            out["retried"] = 1  # failed an attempt and will run again
    if status != before and status in ("completed", "failed", "cancelled"):
        out[status] = 1
    return out


def _observe(out: Counts, name: str, seconds: float) -> None:
    seconds = max(seconds, 0.0)
    out[f"{name}_{bisect_left(BOUNDS, seconds)}"] = 1
    out[f"{name}_sum"] = seconds


def depth(ready: int) -> Counts:
    """One sample of the queue's depth (ready jobs): its mean is ``depth_sum / depth_n``."""
    return {"depth_sum": ready, "depth_n": 1}


def quantile(counts: Counts, name: str, q: float) -> float | None:
    """The ``q`` quantile of a histogram, interpolated within its bin (as Prometheus'
    ``histogram_quantile``); None without observations."""
    bins = [counts.get(f"{name}_{i}", 0) for i in range(len(BOUNDS) + 1)]
    total = sum(bins)
    if not total:
        return None
    rank, below = q * total, 0.0
    for i, n in enumerate(bins):
        if n and below + n >= rank:
            low = BOUNDS[i - 1] if i else 0.0
            high = BOUNDS[i] if i < len(BOUNDS) else BOUNDS[-1]
            return round(low + (high - low) * (rank - below) / n, 6)
        below += n
    return float(BOUNDS[-1])


def point(start: float, counts: Counts, step: float) -> dict[str, Any]:
    """A rollup as the client reads it (``stats.history``)."""
    out: dict[str, Any] = {"t": start}
    for event in EVENTS:
        out[event] = int(counts.get(event, 0))
    attempts = out["completed"] + out["failed"] + out["retried"]
    out["throughput"] = round(out["completed"] / step, 6)
    out["failure_rate"] = (
        round((out["failed"] + out["retried"]) / attempts, 6) if attempts else None
    )
    samples = counts.get("depth_n", 0)
    out["depth"] = round(counts.get("depth_sum", 0) / samples, 3) if samples else None
    for name in ("wait", "run"):
        observed = _observed(counts, name)
        spread: dict[str, Any] = {"count": observed}
        spread["mean"] = round(counts.get(f"{name}_sum", 0) / observed, 6) if observed else None
        for q in QUANTILES:
            spread[f"p{round(q * 100)}"] = quantile(counts, name, q)
        out[name] = spread
    return out


def _observed(counts: Counts, name: str) -> int:
    return int(sum(counts.get(f"{name}_{i}", 0) for i in range(len(BOUNDS) + 1)))
