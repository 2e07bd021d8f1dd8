"""results/chart.png: end-to-end throughput (the many-workers row included), enqueue, dispatch
latency, sequential saves, the fan-out steps and scale, one panel each; livejobs' rows in red,
the peers' in grey. Error bars: min and max over the repetitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stats import Spread, pct, summarize

RED, GREY = "#d62728", "#7f7f7f"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarize(results)
    peers = [p for p in results["meta"]["peers"] if p in table]
    fig, axes = plt.subplots(3, 2, figsize=(13, 13))
    for ax, key, title in (
        (axes[0][0], "e2e", "End-to-end throughput (jobs/s, higher is better)"),
        (axes[0][1], "enqueue", "Batch enqueue (jobs/s, higher is better)"),
    ):
        shown = [p for p in peers if table[p].get(key)]
        _bars(ax, shown, [table[p][key] for p in shown])
        ax.set_title(title)
    _pair(
        axes[1][0],
        [p for p in peers if table[p].get("p50")],
        table,
        ("p50", "p99"),
        "Dispatch latency (ms, lower is better; solid p50, pale p99)",
    )
    saves = [p for p in peers if table[p].get("saves")]
    _bars(axes[1][1], saves, [table[p]["saves"] for p in saves])
    for i, peer in enumerate(saves):  # the round trip above each bar
        axes[1][1].annotate(
            f"{table[peer]['save_p50'][1]:.2f} ms",
            (i, table[peer]["saves"][1]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes[1][1].set_title("Sequential saves (saves/s, higher is better; round trip p50 above)")
    _fanout(axes[2][0], results.get("fanout"))
    _scale(axes[2][1], results.get("scale"), results.get("scale-postgres"))
    fig.suptitle(f"livejobs bench, {results['meta']['date']} ({results['meta']['machine']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _bars(
    ax: Any,
    names: list[str],
    spreads: list[Spread],
    xs: list[float] | None = None,
    width: float = 0.6,
    alpha: float = 1.0,
    label: str | None = None,
) -> None:
    xs = xs if xs is not None else list(range(len(names)))
    mids = [s[1] for s in spreads]
    low = [s[1] - s[0] for s in spreads]
    high = [s[2] - s[1] for s in spreads]
    colors = [RED if n.startswith("livejobs") else GREY for n in names]
    ax.bar(
        xs, mids, width=width, color=colors, alpha=alpha, yerr=[low, high], capsize=4, label=label
    )
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)


def _pair(
    ax: Any,
    names: list[str],
    table: dict[str, dict[str, Spread]],
    keys: tuple[str, str],
    title: str,
) -> None:
    """Two bars per name (solid, pale), on a log axis when every value is positive."""
    width = 0.4
    for offset, key, alpha in ((-width / 2, keys[0], 1.0), (width / 2, keys[1], 0.5)):
        xs = [i + offset for i in range(len(names))]
        _bars(ax, names, [table[n][key] for n in names], xs=xs, width=width, alpha=alpha)
    if all(table[n][k][0] > 0 for n in names for k in keys):
        _log(ax)
    ax.set_title(title)


def _fanout(ax: Any, steps: list[dict[str, Any]] | dict[str, Any] | None) -> None:
    """Per step: delivery p50 and p99 (log ms) with the goal as a tick, peak RSS in the label."""
    steps = [steps] if isinstance(steps, dict) else steps or []
    done = [s for s in steps if s.get("latency_ms")]
    labels = [
        f"{s['subscribers'] + s.get('idle', 0):,} subs\n({s.get('idle', 0):,} idle)\n"
        f"RSS {s['server_rss_mb_peak']:.0f} MB"
        for s in done
    ]
    for offset, q, alpha in ((-0.2, 50, 1.0), (0.2, 99, 0.5)):
        values = [pct(s["latency_ms"], q) for s in done]
        ax.bar([i + offset for i in range(len(done))], values, 0.4, color=RED, alpha=alpha)
    for i, step in enumerate(done):
        goal = 250 if step.get("idle") else 50
        ax.hlines(goal, i - 0.4, i + 0.4, colors="black", linestyles="--", linewidth=1)
    ax.set_xticks(range(len(done)), labels, fontsize=8)
    if done and all(pct(s["latency_ms"], 50) > 0 for s in done):
        _log(ax)
    ax.set_title("Live fan-out delivery (ms; solid p50, pale p99, dashed: the p99 goal)")


def _scale(
    ax: Any, sqlite: list[dict[str, Any]] | None, postgres: list[dict[str, Any]] | None
) -> None:
    stores = [("SQLite", "-", sqlite), ("PostgreSQL", "--", postgres)]
    shown = [(store, style, lvs) for store, style, raw in stores if (lvs := _timed(raw))]
    for store, style, levels in shown:
        # the ratio to the reference server timed at the same moments, not absolute latencies:
        # those move with the host over the minutes of the run and look like growth when
        # they are drift
        stored = [lv["stored"] for lv in levels]
        for key, label in (("create_ms", "create"), ("claim_ms", "claim")):
            ax.plot(
                stored,
                [pct(lv[key], 50) / pct(lv["ref_" + key], 50) for lv in levels],
                marker="o",
                linestyle=style,
                label=f"{store}: {label} p50 ÷ reference",
            )
    if shown:
        ax.axhline(1.5, color="grey", linestyle=":", linewidth=1, label="target limit (1.5×)")
        ax.set_xscale("log")
        ax.set_ylim(0, 2)
        ax.legend(fontsize=8)
        ax.set_xlabel("stored jobs")
    reference = shown[0][2][0]["stored"] if shown else 1000
    ax.set_title(f"Create / claim p50 ÷ a server kept at {reference:,} jobs (flat is 1)")


def _timed(levels: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [lv for lv in levels or [] if lv.get("ref_create_ms")]


def _log(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
