"""From raw results to what people read: the terminal table and latest.md (the chart is
chart.py's, the targets targets.py's).

Every number is min / median / max over the repetitions; ratios are livejobs ÷ peer on the
medians (for throughput, above 1 means livejobs is faster; for latency, below 1 means it is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chart as charts
import targets
from lineup import BY_NAME
from stats import Spread, once, pct, stored, summarize

COLUMNS = [
    ("e2e", "end-to-end jobs/s", 0),
    ("enqueue", "enqueue jobs/s", 0),
    ("cpu_per_1k", "CPU s / 1k jobs", 2),
    ("p50", "dispatch p50 ms", 2),
    ("p99", "dispatch p99 ms", 2),
    ("enqueue_call", "enqueue call p50 ms", 2),
]


def _fmt(s: Spread | None, digits: int) -> str:
    if s is None or s[1] != s[1]:
        return "—"
    lo, mid, hi = (f"{v:,.{digits}f}" for v in s)
    return mid if lo == hi else f"{mid} ({lo}–{hi})"


def _median(s: Spread | None, digits: int) -> str:
    return "—" if s is None or s[1] != s[1] else f"{s[1]:,.{digits}f}"


def _ratio(table: dict[str, dict[str, Spread]], peer: str, key: str) -> str:
    mine, theirs = table.get("livejobs", {}).get(key), table.get(peer, {}).get(key)
    if not mine or not theirs or not theirs[1] or mine[1] != mine[1] or theirs[1] != theirs[1]:
        return "—"
    return f"{mine[1] / theirs[1]:.2f}×"


def repetitions(meta: dict[str, Any]) -> str:
    """The repetitions planned, and those the budget cut, per scenario (not the plan's word)."""
    planned = int(meta["repeats"])
    short = {k: n for k, n in meta.get("ran", {}).items() if n < planned}
    said = f"{planned} repetition(s)"
    if short:
        cut = ", ".join(f"{k} {n}" for k, n in sorted(short.items()))
        said += f" ({cut} within the budget)"
    return said


def markdown(results: dict[str, Any]) -> str:
    table = summarize(results)
    meta = results["meta"]
    peers = [p for p in meta["peers"] if p in table]
    runs = results.get("throughput", {})
    out = [
        "# livejobs vs RQ, arq, Celery and BullMQ",
        "",
        f"Run {meta['date']} on {meta['machine']} (commit `{meta['commit']}`), "
        f"{repetitions(meta)}, interleaved; {'quick' if meta['quick'] else 'full'} run "
        f"in {meta['elapsed_s']:.0f} s. Load average before/after: {meta['load_before']} / "
        f"{meta['load_after']} (other work on the machine shows up here).",
        "",
        *targets.markdown(results),
    ]
    if peers:
        out += _peers_md(table, peers, runs, meta)
    out += _saves_md(results, table, meta)
    out += _fanout_md(results.get("fanout")) + _sdk_md(results.get("sdk"))
    out += _scale_md(results.get("scale"), "SQLite")
    out += _scale_md(results.get("scale-postgres"), "PostgreSQL")
    out += _dashboard_md(results.get("dashboard"))
    out += ["", "## Configuration", ""]
    out += [f"- **{p}**: {BY_NAME[p].config}" for p in meta["peers"] if p in BY_NAME]
    out += [f"- **redis**: {meta['redis']}", f"- **durability**: {meta['durability']}"]
    if meta.get("notes"):
        out += ["", "## Notes", ""] + [f"- {note}" for note in meta["notes"]]
    out += ["", "![chart](chart.png)", ""]
    return "\n".join(out)


def _peers_md(
    table: dict[str, dict[str, Spread]],
    peers: list[str],
    runs: dict[str, list[dict[str, Any]]],
    meta: dict[str, Any],
) -> list[str]:
    out = [
        "",
        "## Throughput and dispatch",
        "",
        "Cells: median (min–max) over repetitions. Throughput: "
        f"{meta['n']:,} no-op jobs (a share of them for the slowest peers, see Configuration), "
        "one producer, one worker process (the many-workers row: see Configuration). Each job "
        "once: every job's handler ran exactly once, over all repetitions. Dispatch: "
        f"{meta['samples']} probes to an idle worker, handler start − enqueue return.",
        "",
        "| peer | " + " | ".join(title for _, title, _ in COLUMNS) + " | each job once |",
        "|---|" + "---:|" * len(COLUMNS) + "---|",
    ]
    for peer in peers:
        cells = [_fmt(table[peer].get(key), digits) for key, _, digits in COLUMNS]
        out.append(f"| {peer} | " + " | ".join(cells) + f" | {once(runs.get(peer, []))} |")
    if "livejobs" in table:
        keys = ("e2e", "enqueue", "p50", "p99", "saves")
        out += [
            "",
            "## livejobs ÷ peer (medians)",
            "",
            "Throughput and saves: above 1× livejobs is faster. Latency: below 1× it is faster.",
            "",
            "| peer | e2e jobs/s | enqueue jobs/s | dispatch p50 | dispatch p99 | saves/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for peer in peers:
            if not peer.startswith("livejobs"):
                cells = [_ratio(table, peer, k) for k in keys]
                out.append(f"| {peer} | " + " | ".join(cells) + " |")
    return out


def _saves_md(
    results: dict[str, Any], table: dict[str, dict[str, Spread]], meta: dict[str, Any]
) -> list[str]:
    saves = results.get("saves") or {}
    peers = [p for p in meta["peers"] if p in saves and "saves" in table.get(p, {})]
    if not peers:
        return []
    out = [
        "",
        "## Sequential saves",
        "",
        f"One producer awaiting each one-at-a-time enqueue in turn, {meta.get('saves', 0):,} of "
        "them after 10 warm-up ones, no worker running: a web request that enqueues its job. "
        "Stored: the queue holds every save that was acknowledged.",
        "",
        "| peer | call | saves/s | round trip p50 ms | round trip p99 ms | stored |",
        "|---|---|---:|---:|---:|---|",
    ]
    calls = {"livejobs": "`await job.save()`", "rq": "`queue.enqueue`", "arq": "`enqueue_job`",
             "celery": "`apply_async`", "bullmq": "`await queue.add`"}  # fmt: skip
    for peer in peers:
        row = table[peer]
        cells = [
            _fmt(row.get(key), d) for key, d in (("saves", 0), ("save_p50", 3), ("save_p99", 3))
        ]
        out.append(
            f"| {peer} | {calls.get(peer, '')} | "
            + " | ".join(cells)
            + f" | {stored(saves[peer])} |"
        )
    return out


def _fanout_md(steps: list[dict[str, Any]] | dict[str, Any] | None) -> list[str]:
    if isinstance(steps, dict):  # a raw result from before the fan-out had steps
        steps = [steps]
    if not steps:
        return []
    out = [
        "",
        "## Live fan-out (livejobs)",
        "",
        "Active subscribers on `{}`, idle ones on one of 100 job types nobody creates; job "
        "changes offered at the rate for the time shown, open loop; each step on a fresh server. "
        "Every active subscriber must get every change, every idle one none.",
        "",
    ]
    done = [s for s in steps if "latency_ms" in s]
    out += [f"Not measured: {s['load']}: {s['error']}" for s in steps if "error" in s]
    if not done:
        return out
    head = [f"{s['subscribers']:,} + {s.get('idle', 0):,} idle × {s['rate']}/s" for s in done]
    out += ["| | " + " | ".join(head) + " |", "|---|" + "---:|" * len(done)]
    for what, cell in _FANOUT_ROWS:
        out.append(f"| {what} | " + " | ".join(cell(s) for s in done) + " |")
    return out


def _p(step: dict[str, Any]) -> str:
    lat = step["latency_ms"]
    return f"{pct(lat, 50):,.1f} / {pct(lat, 99):,.1f} ms" if lat else "—"


_FANOUT_ROWS = [
    ("changes offered", lambda s: f"{s['produced']:,} in {s['produce_s']:.1f} s"),
    ("active subscribers that received every change",
     lambda s: f"{s['complete_subscribers']:,} of {s['subscribers']:,}"),
    ("idle subscribers that received nothing",
     lambda s: f"{s.get('idle_quiet', 0):,} of {s.get('idle', 0):,}"),
    ("changes delivered", lambda s: f"{s['delivered']:,} of {s['expected']:,} "
     f"({100 * s['delivered'] / max(s['expected'], 1):.1f} %)"),
    ("connections cut by the server", lambda s: f"{s['dropped_connections']}"),
    ("delivery latency p50 / p99", _p),
    ("last change delivered after", lambda s: _seconds(s["last_delivery_s"])),
    ("server CPU while producing", lambda s: f"{s['server_cpu_pct']:.0f} % of one core"),
    ("server CPU per delivered change", lambda s: f"{s['server_us_per_delivery']:.1f} µs"
     if s["delivered"] else "—"),
    ("server RSS before / peak",
     lambda s: f"{s['server_rss_mb_before']:.0f} / {s['server_rss_mb_peak']:.0f} MB"),
    ("subscriber processes, their CPU",
     lambda s: f"{s.get('client_processes', 2)}, {s['client_cpu_s']:.1f} s"),
]  # fmt: skip


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 0 else "—"


def _sdk_md(sdk: dict[str, Any] | None) -> list[str]:
    if not sdk or "async" not in sdk:
        return []
    out = [
        "",
        "## Sync and async client (livejobs SDK)",
        "",
        f"One call after the other: {sdk['n']:,} saves, then {sdk['n'] // 4:,} `run` round trips"
        f" (create, run by a worker, result); median of {sdk['rounds']} rounds. `SyncClient`"
        " runs the async client on a loop thread: the difference is that hop.",
        "",
        "| client | µs per save | µs per run |",
        "|---|---:|---:|",
    ]
    for name in ("async", "sync"):
        row = sdk[name]
        out.append(f"| {name} | {row['save_us']:,.0f} | {row['run_us']:,.0f} |")
    return out


def _scale_md(levels: list[dict[str, Any]] | None, store: str) -> list[str]:
    if not levels:
        return []
    first = levels[0]["stored"]
    out = [
        "",
        f"## Scale (livejobs, {store})",
        "",
        "One call at a time; the stored jobs are all ready and of the claimed type. Each call "
        f"alternates with the same call to a reference server kept at {first:,} jobs; the "
        "last column is the ratio of their p50s, which the machine's own drift cancels out "
        "of.",
        "",
        "| stored jobs | create p50 / p99 ms | claim p50 / p99 ms | seeding jobs/s "
        f"| ÷ reference at {first:,} (create / claim p50) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for lv in levels:
        seed = f"{lv['seeded'] / lv['seed_s']:,.0f}" if lv["seed_s"] > 0 else "—"
        ratios = " / ".join(
            f"{pct(lv[key], 50) / pct(lv['ref_' + key], 50):.2f}×" if lv.get("ref_" + key) else "—"
            for key in ("create_ms", "claim_ms")
        )
        out.append(
            f"| {lv['stored']:,} | {pct(lv['create_ms'], 50):.2f} / {pct(lv['create_ms'], 99):.2f}"
            f" | {pct(lv['claim_ms'], 50):.2f} / {pct(lv['claim_ms'], 99):.2f} | {seed} "
            f"| {ratios} |"
        )
    return out


def _dashboard_md(dash: dict[str, Any] | None) -> list[str]:
    """Issue 26's acceptance numbers beside its targets."""
    if not dash or "jobs" not in dash:
        return []
    rows = [  # what, value shown, within the target, the target
        ("sign-in to first rows, WebSocket", f"{dash['first_rows_s'] * 1000:.1f} ms",
         dash["first_rows_s"] <= 1, "≤ 1,000 ms"),
        ("… bytes", f"{dash['first_rows_bytes']:,} B", dash["first_rows_bytes"] <= 1e6, "≤ 1 MB"),
        ("sign-in to first rows, Chromium", f"{dash['browser_first_rows_ms']:.0f} ms",
         dash["browser_first_rows_ms"] <= 1000, "≤ 1,000 ms"),
        ("… bytes", f"{dash['browser_first_rows_bytes']:,} B",
         dash["browser_first_rows_bytes"] <= 1e6, "≤ 1 MB"),
        ("search by a data value", f"{dash['search_data_s'] * 1000:.1f} ms",
         dash["search_data_s"] <= 0.3 and dash["search_data_found"] == 1, "≤ 300 ms, found"),
        ("search by an error text", f"{dash['search_error_s'] * 1000:.1f} ms",
         dash["search_error_s"] <= 0.3 and dash["search_error_found"] == 1, "≤ 300 ms, found"),
        ("heap after GC", f"{dash['heap_mb']:.1f} MB", dash["heap_mb"] <= 50, "≤ 50 MB"),
        (f"frame p99, {dash['flow_rate']:,} changes/s for {dash['flow_s']:.0f} s",
         f"{dash['frame_p99_ms']:.1f} ms", dash["frame_p99_ms"] <= 50, "≤ 50 ms"),
        ("counts exact when the flow stops", "yes" if dash["counts_exact"] else "no",
         dash["counts_exact"], "yes"),
    ]  # fmt: skip
    out = [
        "",
        f"## Dashboard at {dash['jobs']:,} jobs (issue 26)",
        "",
        f"Seeded through the store's batch path in {dash['seed_s']:.0f} s; the page in Chromium "
        f"(frames: {dash['frames']:,}, p50 {dash['frame_p50_ms']:.1f} ms, max "
        f"{dash['frame_max_ms']:.1f} ms).",
        "",
        "| measure | value | target | |",
        "|---|---:|---|---|",
    ]
    out += [
        f"| {what} | {value} | {target} | {'✓' if ok else '✗'} |"
        for what, value, ok, target in rows
    ]
    return out


def write(results: dict[str, Any], out: Path) -> None:
    """latest.md and chart.png in ``out``."""
    (out / "latest.md").write_text(markdown(results))
    charts.chart(results, out / "chart.png")


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def write_readme(results: dict[str, Any], readme: Path) -> bool:
    """The block between the README's bench markers, from this run: its Targets table and each
    peer's medians. False when the README has no such block (nothing written)."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    meta, table = results["meta"], summarize(results)
    block = [
        README_START,
        f"From the last `make bench` ({meta['date']}, commit `{meta['commit']}`, "
        f"{meta['machine']}, {repetitions(meta)} interleaved, load average "
        f"{meta['load_before']} at its start; written by `bench/run.py`, details in "
        "[bench/results/latest.md](bench/results/latest.md)):",
        "",
        *targets.table(targets.evaluate(results)),
        "",
        "| medians | end-to-end jobs/s | batch enqueue jobs/s | dispatch p50 / p99 ms "
        "| sequential saves/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for peer in [p for p in meta["peers"] if p in table]:
        row = table[peer]
        p50, p99 = (_median(row.get(k), 2) for k in ("p50", "p99"))
        cells = [_median(row.get("e2e"), 0), _median(row.get("enqueue"), 0)]
        cells += [f"{p50} / {p99}" if p50 != "—" else "—", _median(row.get("saves"), 0)]
        block.append(f"| {peer} | " + " | ".join(cells) + " |")
    readme.write_text(text[:start] + "\n".join(block) + "\n" + text[end:])
    return True


def print_table(results: dict[str, Any]) -> None:
    """The terminal view: the same markdown, rendered by rich."""
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(markdown(results).replace("![chart](chart.png)", "")))


if __name__ == "__main__":
    # re-render latest.md and chart.png from a raw result: python report.py results/raw/X.json
    import json
    import sys

    raw = Path(sys.argv[1])
    data = json.loads(raw.read_text())
    write(data, raw.resolve().parent.parent)
    print_table(data)
