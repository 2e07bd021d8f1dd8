"""From raw results to numbers: percentiles, spreads over repetitions, and each peer's row.

Every number is min / median / max over the repetitions.
"""

from __future__ import annotations

import statistics
from typing import Any

Spread = tuple[float, float, float]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def spread(values: list[float]) -> Spread:
    if not values:
        return (float("nan"),) * 3
    return min(values), statistics.median(values), max(values)


def e2e_rate(run: dict[str, Any]) -> float:
    """Jobs/s end to end; a run cut off at its timeout counts what it completed by then (a
    slow peer's rate, not a missing cell; the notes say which runs were cut off)."""
    if run.get("e2e_s"):
        return float(run["n"] / run["e2e_s"])
    return float(run["completed"] / run["wall_s"])


def summarize(results: dict[str, Any]) -> dict[str, dict[str, Spread]]:
    """Per peer: enqueue and e2e jobs/s, dispatch p50/p99 (ms), sequential saves/s and their
    round trip p50/p99 (ms), each a spread over repetitions."""
    table: dict[str, dict[str, Spread]] = {}
    for peer, runs in results.get("throughput", {}).items():
        ok = [r for r in runs if r.get("enqueue_s") and r.get("wall_s")]
        row = table.setdefault(peer, {})
        row["enqueue"] = spread([r["n"] / r["enqueue_s"] for r in ok])
        row["e2e"] = spread([e2e_rate(r) for r in ok])
        row["cpu_per_1k"] = spread(
            [1000 * (r["worker_cpu_s"] + r["backend_cpu_s"]) / max(r["completed"], 1) for r in ok]
        )
    for peer, runs in results.get("latency", {}).items():
        ok = [r for r in runs if r.get("dispatch_ms")]
        row = table.setdefault(peer, {})
        row["p50"] = spread([pct(r["dispatch_ms"], 50) for r in ok])
        row["p99"] = spread([pct(r["dispatch_ms"], 99) for r in ok])
        row["enqueue_call"] = spread([pct(r["enqueue_ms"], 50) for r in ok])
    for peer, runs in results.get("saves", {}).items():
        ok = [r for r in runs if r.get("rtt_ms")]
        row = table.setdefault(peer, {})
        row["saves"] = spread([r["saved"] / r["total_s"] for r in ok])
        row["save_p50"] = spread([pct(r["rtt_ms"], 50) for r in ok])
        row["save_p99"] = spread([pct(r["rtt_ms"], 99) for r in ok])
    return table


def once(runs: list[dict[str, Any]]) -> str:
    """Throughput's correctness over a peer's repetitions: every job's handler ran exactly once
    (✓), or how many ran twice or never (✗), or — when a worker did not say what it ran."""
    ok = [r for r in runs if "n" in r]
    if not ok or any(r.get("runs") is None for r in ok):
        return "—"
    twice = sum(r["duplicates"] for r in ok)
    never = sum(r["missing"] for r in ok)
    jobs = sum(r["n"] for r in ok)
    if not twice and not never and len(ok) == len(runs):
        return f"✓ {jobs:,}"
    return f"✗ {never:,} never, {twice:,} twice" + (
        "" if len(ok) == len(runs) else ", a run failed"
    )


def stored(runs: list[dict[str, Any]]) -> str:
    """Sequential saves' correctness: every save acknowledged is stored."""
    ok = [r for r in runs if "stored" in r]
    if not ok:
        return "—"
    saved = sum(r["saved"] for r in ok)
    kept = sum(r["stored"] for r in ok)
    return f"✓ {kept:,}" if kept == saved and len(ok) == len(runs) else f"✗ {kept:,} of {saved:,}"


def probes(runs: list[dict[str, Any]]) -> str:
    """Dispatch latency's correctness: every probe's handler started (none lost)."""
    ok = [r for r in runs if "lost" in r]
    if not ok:
        return "—"
    lost = sum(r["lost"] for r in ok)
    timed = sum(len(r["dispatch_ms"]) for r in ok)
    return f"✓ {timed:,} probes" if not lost and len(ok) == len(runs) else f"✗ {lost:,} lost"
