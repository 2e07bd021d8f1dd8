"""From raw results to what people read: summaries, the terminal table, latest.md, chart.png.

Every number is min / median / max over the repetitions; ratios are livejobs ÷ peer on the
medians (for throughput, above 1 means livejobs is faster; for latency, below 1 means it is).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from lineup import BY_NAME

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
    """Per peer: enqueue and e2e jobs/s, dispatch p50/p99 (ms), spread over repetitions."""
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
    return table


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


def _ratio(table: dict[str, dict[str, Spread]], peer: str, key: str) -> str:
    mine, theirs = table.get("livejobs", {}).get(key), table.get(peer, {}).get(key)
    if not mine or not theirs or not theirs[1] or mine[1] != mine[1] or theirs[1] != theirs[1]:
        return "—"
    return f"{mine[1] / theirs[1]:.2f}×"


def markdown(results: dict[str, Any]) -> str:
    table = summarize(results)
    meta = results["meta"]
    peers = [p for p in meta["peers"] if p in table]
    out = [
        "# livejobs vs RQ, arq, Celery and BullMQ",
        "",
        f"Run {meta['date']} on {meta['machine']} (commit `{meta['commit']}`), "
        f"{meta['repeats']} repetition(s), interleaved; {'quick' if meta['quick'] else 'full'} run "
        f"in {meta['elapsed_s']:.0f} s. Load average before/after: {meta['load_before']} / "
        f"{meta['load_after']} (other work on the machine shows up here).",
        "",
        "Cells: median (min–max) over repetitions. Throughput: "
        f"{meta['n']:,} no-op jobs, one producer, one worker process. Dispatch: "
        f"{meta['samples']} probes to an idle worker, handler start − enqueue return.",
        "",
        "| peer | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for peer in peers:
        cells = [_fmt(table[peer].get(key), digits) for key, _, digits in COLUMNS]
        out.append(f"| {peer} | " + " | ".join(cells) + " |")
    if "livejobs" in table:
        out += [
            "",
            "## livejobs ÷ peer (medians)",
            "",
            "Throughput: above 1× livejobs is faster. Latency: below 1× it is faster.",
            "",
            "| peer | e2e jobs/s | enqueue jobs/s | dispatch p50 | dispatch p99 |",
            "|---|---:|---:|---:|---:|",
        ]
        for peer in peers:
            if not peer.startswith("livejobs"):
                cells = [_ratio(table, peer, k) for k in ("e2e", "enqueue", "p50", "p99")]
                out.append(f"| {peer} | " + " | ".join(cells) + " |")
    out += _fanout_md(results.get("fanout")) + _sdk_md(results.get("sdk"))
    out += _scale_md(results.get("scale")) + _dashboard_md(results.get("dashboard"))
    out += ["", "## Configuration", ""]
    out += [f"- **{p}**: {BY_NAME[p].config}" for p in meta["peers"]]
    out += [f"- **redis**: {meta['redis']}", f"- **durability**: {meta['durability']}"]
    if meta.get("notes"):
        out += ["", "## Notes", ""] + [f"- {note}" for note in meta["notes"]]
    out += ["", "![chart](chart.png)", ""]
    return "\n".join(out)


def _fanout_md(fan: dict[str, Any] | None) -> list[str]:
    if not fan:
        return []
    if "error" in fan:
        return ["", "## Live fan-out (livejobs)", "", f"Not measured: {fan['error']}"]
    lat = fan["latency_ms"]
    return [
        "",
        "## Live fan-out (livejobs)",
        "",
        f"{fan['subscribers']:,} WebSocket subscribers on `{{}}`, {fan['rate']} job changes/s "
        f"offered for {fan['seconds']:.0f} s, open loop; the server took {fan['produced']:,} "
        f"changes in {fan['produce_s']:.1f} s ({fan['produced'] / fan['produce_s']:,.0f}/s).",
        "",
        "| | |",
        "|---|---:|",
        f"| subscribers that received every change | {fan['complete_subscribers']:,} of "
        f"{fan['subscribers']:,} |",
        f"| changes delivered | {fan['delivered']:,} of {fan['expected']:,} "
        f"({100 * fan['delivered'] / max(fan['expected'], 1):.1f} %) |",
        f"| connections cut by the server | {fan['dropped_connections']} |",
        f"| delivery latency p50 / p99 | {pct(lat, 50):,.1f} / {pct(lat, 99):,.1f} ms |"
        if lat
        else "| delivery latency p50 / p99 | — |",
        f"| last change delivered after | {_seconds(fan['last_delivery_s'])} |",
        f"| server CPU while producing | {fan['server_cpu_pct']:.0f} % of one core |",
        f"| server CPU per delivered change | {fan['server_us_per_delivery']:.1f} µs |"
        if fan["delivered"]
        else "| server CPU per delivered change | — |",
        f"| server RSS before / peak | {fan['server_rss_mb_before']:.0f} / "
        f"{fan['server_rss_mb_peak']:.0f} MB |",
        f"| subscriber processes' CPU | {fan['client_cpu_s']:.1f} s |",
    ]


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


def _scale_md(levels: list[dict[str, Any]] | None) -> list[str]:
    if not levels:
        return []
    first = levels[0]["stored"]
    out = [
        "",
        "## Scale (livejobs, SQLite)",
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


def print_table(results: dict[str, Any]) -> None:
    """The terminal view: the same markdown, rendered by rich."""
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(markdown(results).replace("![chart](chart.png)", "")))


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    table = summarize(results)
    peers = [p for p in results["meta"]["peers"] if p in table]
    colors = ["#d62728" if p.startswith("livejobs") else "#7f7f7f" for p in peers]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, key, title in (
        (axes[0][0], "e2e", "End-to-end throughput (jobs/s, higher is better)"),
        (axes[0][1], "enqueue", "Enqueue throughput (jobs/s, higher is better)"),
    ):
        _bars(ax, peers, [table[p].get(key) for p in peers], colors)
        ax.set_title(title)
    ax = axes[1][0]
    width = 0.4
    for offset, key, alpha in ((-width / 2, "p50", 1.0), (width / 2, "p99", 0.5)):
        xs = [i + offset for i in range(len(peers))]
        _bars(
            ax,
            peers,
            [table[p].get(key) for p in peers],
            colors,
            xs=xs,
            width=width,
            alpha=alpha,
            label=key,
        )
    ax.set_xticks(range(len(peers)), peers)
    if all(s[0] > 0 for p in peers for k in ("p50", "p99") if (s := table[p].get(k))):
        ax.set_yscale("log")
    ax.set_title("Dispatch latency (ms, lower is better; solid p50, pale p99)")
    ax = axes[1][1]
    levels = [lv for lv in results.get("scale") or [] if lv.get("ref_create_ms")]
    if levels:
        # the ratio to the reference server timed at the same moments, not absolute latencies:
        # those move with the host over the minutes of the run and look like growth when
        # they are drift
        stored = [lv["stored"] for lv in levels]
        for key, label in (("create_ms", "create"), ("claim_ms", "claim")):
            ax.plot(
                stored,
                [pct(lv[key], 50) / pct(lv["ref_" + key], 50) for lv in levels],
                marker="o",
                label=f"{label} p50 ÷ reference",
            )
        ax.axhline(1.5, color="grey", linestyle="--", linewidth=1, label="target limit (1.5×)")
        ax.set_xscale("log")
        ax.set_ylim(0, 2)
        ax.legend()
        ax.set_xlabel("stored jobs")
    reference = levels[0]["stored"] if levels else 1000
    ax.set_title(f"Create / claim p50 ÷ a server kept at {reference:,} jobs (flat is 1)")
    for ax in (axes[1][0], axes[1][1]):
        if ax.get_yscale() == "log":
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(f"livejobs bench, {results['meta']['date']} ({results['meta']['machine']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _bars(
    ax: Any,
    peers: list[str],
    spreads: list[Spread | None],
    colors: list[str],
    xs: list[float] | None = None,
    width: float = 0.6,
    alpha: float = 1.0,
    label: str | None = None,
) -> None:
    xs = xs if xs is not None else list(range(len(peers)))
    mids = [s[1] if s else 0.0 for s in spreads]
    low = [s[1] - s[0] if s else 0.0 for s in spreads]
    high = [s[2] - s[1] if s else 0.0 for s in spreads]
    ax.bar(
        xs, mids, width=width, color=colors, alpha=alpha, yerr=[low, high], capsize=4, label=label
    )
    if width == 0.6:
        ax.set_xticks(xs, peers)


if __name__ == "__main__":
    # re-render latest.md and chart.png from a raw result: python report.py results/raw/X.json
    import json
    import sys

    raw = Path(sys.argv[1])
    data = json.loads(raw.read_text())
    out = raw.resolve().parent.parent
    (out / "latest.md").write_text(markdown(data))
    chart(data, out / "chart.png")
    print_table(data)
