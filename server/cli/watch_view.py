"""What ``livejobs watch`` draws: a state in, a rich renderable out. Pure, so a test can render
one refresh into a recording console and read it back, with no server and no terminal."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from livejobs.cli.safe_text import plain, shown
from livejobs.jobs.model import Status

#: statuses in the order a job moves through them
STATUSES: tuple[str, ...] = tuple(Status)
STYLES: dict[str, str] = {
    Status.WAITING: "yellow",
    Status.READY: "cyan",
    Status.RUNNING: "bold blue",
    Status.PAUSED: "magenta",
    Status.COMPLETED: "green",
    Status.FAILED: "bold red",
    Status.CANCELLED: "dim",
}
MAX_RUNNING = 20
MAX_FAILURES = 8


@dataclass
class WatchState:
    """Everything one refresh shows; the command keeps it current from live subscriptions."""

    url: str
    job_type: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: job id → document of every running job
    running: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: job id → document of recently failed jobs
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: shown under the title when something is wrong (e.g. reconnecting)
    note: str | None = None


def status_text(status: str) -> Text:
    return plain(status, STYLES.get(status, ""))


def clock_time(when: float | None) -> str:
    return "-" if when is None else time.strftime("%H:%M:%S", time.localtime(when))


def when(value: float | None) -> str:
    """A time as a reader wants it; one past any calendar (stored before the edge bounded
    times) as its number rather than an error."""
    if value is None:
        return "-"
    if abs(time.time() - value) < 12 * 3600:
        return clock_time(value)
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(value))
    except (OverflowError, OSError, ValueError):
        return f"{value:g}"


def duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def error_message(failure: dict[str, Any] | None, reason: str | None = None) -> str:
    """The one line a person wants from a failure: its message, not the traceback."""
    error = failure.get("error") if failure else None
    if isinstance(error, dict):
        error = error.get("message") or error.get("type") or error
    text = str(error if error is not None else reason or "")
    return text.splitlines()[0] if text else ""


def counts_table(counts: dict[str, int]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for status in STATUSES:
        table.add_column(status_text(status), justify="right")
    table.add_column("total", justify="right", style="bold")
    values = [counts.get(s, 0) for s in STATUSES]
    table.add_row(*(str(v) for v in values), str(sum(values)))
    return table


def running_table(running: dict[str, dict[str, Any]], now: float) -> Table:
    docs = sorted(running.values(), key=lambda d: d.get("started") or 0)
    table = Table(
        title=f"running ({len(docs)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=True,
    )
    table.add_column("id", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("worker", no_wrap=True)
    table.add_column("for", justify="right", no_wrap=True)
    table.add_column("progress", ratio=1, min_width=10)
    table.add_column("%", justify="right", no_wrap=True)
    for doc in docs[:MAX_RUNNING]:
        progress = doc.get("progress") or {}
        total = float(progress.get("total") or 0)
        completed = float(progress.get("completed") or 0)
        lease = doc.get("lease") or {}
        bar = ProgressBar(total=total or None, completed=completed, width=None, animation_time=now)
        table.add_row(
            plain(doc["id"][:12]),
            plain(doc["type"]),
            plain(lease.get("worker") or "-"),
            duration(now - (doc.get("started") or now)),
            bar,
            f"{progress.get('percent', 0.0):.0f}" if total else "-",
        )
    if len(docs) > MAX_RUNNING:
        table.add_row(f"… and {len(docs) - MAX_RUNNING} more", "", "", "", "", "")
    return table


def failures_table(failures: dict[str, dict[str, Any]]) -> Table:
    docs = sorted(failures.values(), key=lambda d: d.get("finished") or 0, reverse=True)
    table = Table(
        title="recent failures",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=True,
    )
    table.add_column("when", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("error", ratio=1, overflow="ellipsis", no_wrap=True)
    for doc in docs[:MAX_FAILURES]:
        last = (doc.get("failures") or [None])[-1]
        table.add_row(
            clock_time(doc.get("finished")),
            plain(doc["id"][:12]),
            plain(doc["type"]),
            str(doc.get("attempts", 0)),
            plain(error_message(last, doc.get("reason"))),
        )
    return table


def render(state: WatchState, now: float) -> RenderableType:
    """One refresh of the view at time ``now``."""
    title = Text.assemble(
        ("livejobs ", "bold"),
        shown(state.url),
        f"  type={shown(state.job_type)}" if state.job_type else "",
        f"  {clock_time(now)}",
    )
    parts: list[RenderableType] = [title]
    if state.note:
        parts.append(Text(state.note, style="bold yellow"))
    parts.append(counts_table(state.counts))
    parts.append(
        running_table(state.running, now) if state.running else Text("no running jobs", style="dim")
    )
    if state.failures:
        parts.append(failures_table(state.failures))
    return Group(*parts)
