"""Issue 27's targets (and issue 23's PostgreSQL ones), each beside what this run measured:
the value, the goal, ✓ or ✗ (— when the run did not measure it), and the correctness that
the figure stands on (every job ran once, every save stored, every change delivered).

Comparisons with a peer are ratios of medians from the same interleaved run: the host is shared,
so only a ratio between neighbours in time means anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineup import MANY
from stats import Spread, once, pct, probes, stored, summarize

NAMES = {"bullmq": "BullMQ", "rq": "RQ", "celery": "Celery"}


@dataclass(frozen=True)
class Target:
    what: str
    value: str
    goal: str
    ok: bool | None  # None: not measured in this run
    checked: str = ""  # the correctness this figure stands on

    @property
    def mark(self) -> str:
        return "—" if self.ok is None else "✓" if self.ok else "✗"


def _mid(table: dict[str, dict[str, Spread]], peer: str, key: str) -> float | None:
    value = table.get(peer, {}).get(key)
    return None if value is None or value[1] != value[1] else value[1]


def _ratio(
    mine: float | None, theirs: float | None, goal: float, higher: bool, unit: str
) -> tuple[str, bool | None]:
    if mine is None or not theirs:
        return "—", None
    ratio = mine / theirs
    digits = 2 if unit == "ms" else 0
    value = f"{ratio:.2f}× ({mine:,.{digits}f} vs {theirs:,.{digits}f} {unit})"
    return value, ratio >= goal if higher else ratio <= goal


def evaluate(results: dict[str, Any]) -> list[Target]:
    table = summarize(results)
    runs = results.get("throughput", {})
    saves = results.get("saves", {})
    latency = results.get("latency", {})
    out: list[Target] = []

    def versus(what: str, peer: str, key: str, other: str, goal: float, higher: bool) -> None:
        unit = {"e2e": "jobs/s", "enqueue": "jobs/s", "saves": "saves/s"}.get(key, "ms")
        value, ok = _ratio(_mid(table, peer, key), _mid(table, other, key), goal, higher, unit)
        sign = "≥" if higher else "≤"
        checked = once(runs[peer]) if key in ("e2e", "enqueue") and peer in runs else ""
        if key in ("p50", "p99"):
            checked = probes(latency.get(peer, []))
        name = NAMES.get(other, other)
        out.append(Target(what, value, f"{sign} {goal:g}× {name}", ok, checked))

    def absolute(what: str, peer: str, key: str, goal: float, higher: bool, unit: str) -> None:
        mid = _mid(table, peer, key)
        digits = 2 if unit == "ms" else 0
        value = "—" if mid is None else f"{mid:,.{digits}f} {unit}"
        ok = None if mid is None else mid >= goal if higher else mid <= goal
        checked = once(runs[peer]) if key in ("e2e", "enqueue") and peer in runs else ""
        if key in ("saves", "save_p50") and peer in saves:
            checked = stored(saves[peer])
        if key in ("p50", "p99"):
            checked = probes(latency.get(peer, []))
        sign = "≥" if higher else "≤"
        out.append(Target(what, value, f"{sign} {goal:,.{digits}f} {unit}", ok, checked))

    versus("End-to-end throughput, livejobs ÷ BullMQ", "livejobs", "e2e", "bullmq", 1.2, True)
    versus("… livejobs-fsync ÷ BullMQ", "livejobs-fsync", "e2e", "bullmq", 0.8, True)
    versus("Dispatch p50, livejobs ÷ BullMQ", "livejobs", "p50", "bullmq", 1.0, False)
    versus("Dispatch p99, livejobs ÷ BullMQ", "livejobs", "p99", "bullmq", 0.5, False)
    absolute("Batch create, livejobs", "livejobs", "enqueue", 50_000, True, "jobs/s")
    versus("… ÷ BullMQ `addBulk`", "livejobs", "enqueue", "bullmq", 2.5, True)
    peers = [p for p in table if not p.startswith("livejobs") and _mid(table, p, "saves")]
    best = max(peers, key=lambda p: _mid(table, p, "saves") or 0.0, default="the best peer")
    versus("Sequential saves, livejobs ÷ the best peer's", "livejobs", "saves", best, 2.0, True)
    if out[-1].ok is not None:  # the correctness of the livejobs side
        out[-1] = Target(**{**out[-1].__dict__, "checked": stored(saves.get("livejobs", []))})
    absolute("… round trip p50, livejobs", "livejobs", "save_p50", 0.25, False, "ms")
    out += _fanout(results.get("fanout"))
    out += _workers(table, runs)
    out += _scale(results.get("scale"), "Scale")
    if "livejobs-postgres" in table:
        absolute("livejobs-postgres end to end", "livejobs-postgres", "e2e", 3_000, True, "jobs/s")
        absolute(
            "livejobs-postgres batch create", "livejobs-postgres", "enqueue", 20_000, True, "jobs/s"
        )
        absolute("livejobs-postgres dispatch p50", "livejobs-postgres", "p50", 1.0, False, "ms")
    out += _scale(results.get("scale-postgres"), "Scale on PostgreSQL")
    return out


def _fanout(steps: list[dict[str, Any]] | dict[str, Any] | None) -> list[Target]:
    if isinstance(steps, dict):  # a raw result from before the fan-out had steps
        steps = [steps]
    out = []
    for step in steps or []:
        if "latency_ms" not in step:
            continue
        idle = step.get("idle", 0)
        name = f"{step['subscribers'] + idle:,} subscribers" + (f" ({idle:,} idle)" if idle else "")
        name += f" × {step['rate']:,} changes/s"
        all_in = (
            step["complete_subscribers"] == step["subscribers"] and not step["dropped_connections"]
        )
        quiet = step.get("idle_quiet", 0) == idle
        checked = "✓ every change delivered" if all_in else "✗ changes missing"
        if idle:
            checked += ", none to an idle one" if quiet else ", ✗ idle ones got changes"
        p99 = pct(step["latency_ms"], 99) if step["latency_ms"] else float("nan")
        limit = 250.0 if idle else 50.0
        ok = p99 <= limit and all_in and quiet
        value = f"{p99:,.1f} ms"
        out.append(Target(f"Fan-out, {name}: delivery p99", value, f"≤ {limit:g} ms", ok, checked))
        if idle:
            rss = step["server_rss_mb_peak"]
            out.append(Target("… server RSS peak", f"{rss:,.0f} MB", "≤ 500 MB", rss <= 500))
    return out


def _workers(table: dict[str, dict[str, Spread]], runs: dict[str, Any]) -> list[Target]:
    many, one = _mid(table, "livejobs-workers", "e2e"), _mid(table, "livejobs", "e2e")
    if many is None:
        return []
    value, ok = _ratio(many, one, 0.8, True, "jobs/s")
    what = f"Many workers ({MANY[0] * MANY[1]} × {MANY[2]} slots) ÷ one worker, end to end"
    return [Target(what, value, "≥ 0.8×", ok, once(runs["livejobs-workers"]))]


def _scale(levels: list[dict[str, Any]] | None, name: str) -> list[Target]:
    """Flat as the store grows: the largest level's p50s ÷ the reference server's, timed at the
    same moments (the chart's 1.5× line)."""
    top = next((lv for lv in reversed(levels or []) if lv.get("ref_create_ms")), None)
    if top is None or levels is None or top is levels[0]:  # the reference level alone
        return []
    ratios = [pct(top[k], 50) / pct(top["ref_" + k], 50) for k in ("create_ms", "claim_ms")]
    value = " / ".join(f"{r:.2f}×" for r in ratios)
    base = (levels or [top])[0]["stored"]
    what = f"{name}: create / claim p50 at {top['stored']:,} stored jobs ÷ at {base:,}"
    return [Target(what, value, "≤ 1.5× (flat)", max(ratios) <= 1.5)]


def markdown(results: dict[str, Any]) -> list[str]:
    targets = evaluate(results)
    met = sum(1 for t in targets if t.ok)
    measured = sum(1 for t in targets if t.ok is not None)
    out = [
        "## Targets (issue 27; issue 23's for PostgreSQL)",
        "",
        f"{met} of {measured} measured targets met. Ratios are of medians from this run; the "
        "last column is the correctness the figure stands on (✓ n: every one of n jobs ran "
        "exactly once, or was stored).",
        "",
    ]
    return out + table(targets)


def table(targets: list[Target]) -> list[str]:
    out = ["| target | this run | goal | | correctness |", "|---|---:|---|---|---|"]
    out += [f"| {t.what} | {t.value} | {t.goal} | {t.mark} | {t.checked} |" for t in targets]
    return out
