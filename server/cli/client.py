"""The client side of the ``livejobs`` command: ``jobs ...``, and what ``watch`` (in
``livejobs.cli.watch``) and ``worker`` (in ``livejobs.cli.worker``) share.

These talk to a running server through the SDK,
exactly like any other client, so they need nothing but ``--url`` and ``--token`` (or
``LIVEJOBS_URL`` / ``LIVEJOBS_TOKEN``). A user's mistake (bad JSON, unknown job, refused token,
nothing listening) is one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from websockets.exceptions import WebSocketException

from livejobs.cli.common import fail
from livejobs.cli.safe_text import json_shown, plain, shown
from livejobs.cli.watch_view import STATUSES, status_text, when
from livejobs.failures import render_failure
from livejobs_sdk import CallError, Client, ConnectionLost

T = TypeVar("T")

jobs_app = typer.Typer(no_args_is_help=True, help="Jobs on a running server.")

URL = typer.Option(
    "http://127.0.0.1:8000",
    "--url",
    envvar="LIVEJOBS_URL",
    help="server address (http://, https://, ws:// or wss://)",
)
TOKEN = typer.Option(None, "--token", envvar="LIVEJOBS_TOKEN", help="an API token")


class Failure(Exception):
    """A user-facing error: printed as one line, exit 1."""


def ws_url(url: str) -> str:
    """``http://host:8000`` → ``ws://host:8000/ws``; a ``ws://`` URL is taken as it is."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise Failure(f"--url {url!r} is not an http(s):// or ws(s):// address")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def run(
    url: str, token: str | None, work: Callable[[Client], Awaitable[T]], *, reconnect: bool = False
) -> T:
    """Connect, run ``work(client)``, close; every error a user can cause becomes one line."""

    async def main() -> T:
        client = Client(ws_url(url), token, reconnect=reconnect, open_timeout=10)
        try:
            await client.connect()
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise Failure(f"cannot connect to {url}: {exc}") from None
        try:
            return await work(client)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except Failure as exc:
        fail(str(exc))
    except CallError as exc:
        hint = " (give --token or set LIVEJOBS_TOKEN)" if exc.code == "unauthenticated" else ""
        fail(f"{exc.code}: {exc.message}{hint}")
    except (ConnectionLost, TimeoutError) as exc:
        fail(f"lost the connection to {url}: {exc or 'timed out'}")


def stdout() -> Console:
    """Tables at terminal width; when piped, wide enough that ids are never cut."""
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, soft_wrap=False, width=200 if wide else None)


def to_json(value: Any, indent: int | None = None) -> str:
    """JSON as a terminal may show it: ``json_shown`` escapes the controls json.dumps keeps."""
    return json_shown(json.dumps(value, indent=indent, ensure_ascii=False, default=str))


def listed_plainly(records: list[Any], as_json: bool, empty: str) -> bool:
    """Print ``records`` one JSON line each (``--json``), or ``empty`` when there are none;
    False when neither applies and the caller draws its table."""
    if as_json:
        for record in records:
            typer.echo(to_json(record))
    elif not records:
        typer.echo(empty)
    return as_json or not records


# -- jobs -----------------------------------------------------------------------------------


@jobs_app.command("ls")
def jobs_ls(
    job_type: str = typer.Option(None, "--type", help="only jobs of this type"),
    status: str = typer.Option(None, "--status", help="a status, or several comma-separated"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="at most this many"),
    as_json: bool = typer.Option(False, "--json", help="one JSON document per line"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """List jobs, newest first."""
    query: dict[str, Any] = {}
    if job_type:
        query["type"] = job_type
    if status:
        wanted = [s.strip() for s in status.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in STATUSES]
        if unknown:
            fail(f"unknown status {', '.join(unknown)}; one of {', '.join(STATUSES)}")
        query["status"] = wanted[0] if len(wanted) == 1 else {"$in": wanted}
    docs = run(url, token, lambda c: c.find(query, sort=[["created", -1]], limit=limit))
    if listed_plainly(docs, as_json, "no jobs"):
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, justify in (
        ("id", "left"),
        ("type", "left"),
        ("status", "left"),
        ("priority", "right"),
        ("tries", "right"),
        ("progress", "right"),
        ("created", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for doc in docs:
        progress = doc.get("progress") or {}
        table.add_row(
            plain(doc["id"]),
            plain(doc["type"]),
            status_text(doc["status"]),
            str(doc["priority"]),
            str(doc["attempts"]),
            f"{progress.get('percent', 0):.0f}%" if progress.get("total") else "-",
            when(doc["created"]),
        )
    stdout().print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="the raw document"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """A job's document, log and failures."""
    doc = run(url, token, lambda c: c.get_job(job_id))
    if as_json:
        typer.echo(to_json(doc, indent=2))
        return
    console = stdout()
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for name, value in _facts(doc):
        if value is not None:
            # a job's own strings (type, reason, key, data) are neither markup nor controls
            fields.add_row(name, value if isinstance(value, Text) else plain(value))
    console.print(fields)
    entries = doc.get("log") or []
    if entries:
        console.print(_log_table(entries))
    for failure in doc.get("failures") or []:
        # each attempt's failure as Python prints it: the traceback, then "Type: message"
        console.print(
            Text(
                f"\nfailure of attempt {shown(failure.get('attempt', '?'))} at "
                f"{when(failure.get('time'))} on {shown(failure.get('worker') or '-')}:",
                style="bold",
            )
        )
        console.print(plain(render_failure(failure.get("error")), lines=True), soft_wrap=True)


def _facts(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """The name and value of each line ``jobs show`` prints above the log (None: no line)."""
    lease = doc.get("lease") or {}
    progress = doc.get("progress") or {}
    retry = doc.get("retry") or {}
    return [
        ("id", doc["id"]),
        ("type", doc["type"]),
        ("status", status_text(doc["status"])),
        ("reason", doc.get("reason")),
        ("priority", doc["priority"]),
        ("attempts", f"{doc['attempts']} (retries allowed: {retry.get('retries', 0)})"),
        ("owner", doc.get("owner")),
        ("worker", lease.get("worker")),
        (
            "progress",
            f"{progress.get('completed', 0):g}/{progress.get('total', 0):g} "
            f"({progress.get('percent', 0):.0f}%)"
            if progress.get("total")
            else None,
        ),
        ("created", when(doc.get("created"))),
        ("after", when(doc.get("after"))),
        ("started", when(doc.get("started"))),
        ("finished", when(doc.get("finished"))),
        ("key", doc.get("key")),
        ("depends", ", ".join(doc.get("depends") or []) or None),
        ("data", to_json(doc.get("data"))),
        ("result", to_json(doc.get("result")) if doc.get("result") is not None else None),
    ]


def _log_table(entries: list[dict[str, Any]]) -> Table:
    table = Table(title="log", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for name in ("time", "level", "by", "message"):
        table.add_column(name, overflow="fold")
    for entry in entries:
        table.add_row(
            when(entry.get("time")),
            plain(entry.get("level", "")),
            plain(entry.get("by", "")),
            plain(entry.get("message", ""), lines=True),
        )
    return table


def _priority(value: str | None) -> int | str | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


@jobs_app.command("create")
def jobs_create(
    job_type: str = typer.Argument(..., metavar="TYPE"),
    data: str = typer.Option("null", "--data", help="the job's data as JSON"),
    priority: str = typer.Option(
        None, "--priority", help="low|normal|medium|high|critical or an integer"
    ),
    delay: float = typer.Option(None, "--delay", min=0, help="seconds before it may start"),
    retries: int = typer.Option(None, "--retries", min=0, help="failed attempts to retry"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Create a job and print its id."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        fail(f"--data is not valid JSON: {exc}")
    spec: dict[str, Any] = {"type": job_type, "data": value}
    if priority is not None:
        spec["priority"] = _priority(priority)
    if delay is not None:
        spec["delay"] = delay
    if retries is not None:
        spec["retry"] = {"retries": retries}
    doc = run(url, token, lambda c: c.call("jobs.create", spec))
    typer.echo(doc["id"])


@jobs_app.command("drain")
def jobs_drain(
    job_type: str = typer.Option(..., "--type", help="the queue (job type) to empty"),
    limit: int = typer.Option(None, "--limit", min=1, help="at most this many, oldest first"),
    reason: str = typer.Option(None, "--reason", help="recorded on each cancelled job"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Cancel a type's waiting, ready and paused jobs (running ones finish); print how many."""
    count = run(url, token, lambda c: c.drain({"type": job_type}, limit=limit, reason=reason))
    typer.echo(f"cancelled {count} queued {job_type} job(s)")


@jobs_app.command("obliterate")
def jobs_obliterate(
    job_type: str = typer.Option(..., "--type", help="the queue (job type) to remove"),
    force: bool = typer.Option(False, "--force", help="cancel its running jobs too"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for a confirmation"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Remove every job of a type, whatever its status, and the type's rules."""
    if not yes:
        typer.confirm(f"Remove every {job_type} job and its rules?", abort=True)
    done = run(url, token, lambda c: c.obliterate(job_type, force=force))
    typer.echo(
        f"removed {done['removed']} {job_type} job(s) ({done['cancelled']} cancelled first)"
        + (f"; {done['kept']} kept" if done["kept"] else "")
    )


PAST = {
    "cancel": "cancelled",
    "restart": "restarted",
    "pause": "paused",
    "resume": "resumed",
    "remove": "removed",
}


def _control(
    action: str, ids: list[str], url: str, token: str | None, done: str = "", **params: Any
) -> None:
    """``jobs.<action>`` on each job, saying ``done`` (default: the action's past) for each."""

    async def work(client: Client) -> list[tuple[str, CallError | None]]:
        async def one(job_id: str) -> tuple[str, CallError | None]:
            try:
                await client.call(f"jobs.{action}", {"id": job_id, **params})
                return job_id, None
            except CallError as exc:
                if exc.code == "unauthenticated":
                    raise
                return job_id, exc

        return list(await asyncio.gather(*(one(i) for i in dict.fromkeys(ids))))

    failed = 0
    for job_id, error in run(url, token, work):
        if error is None:
            typer.echo(f"{done or PAST[action]} {job_id}")
        else:
            failed += 1
            line = shown(f"{job_id}: {error.code}: {error.message}")  # may quote the job
            typer.secho(f"error: {line}", fg="red", err=True)
    if failed:
        raise typer.Exit(1)


def _register_control(action: str) -> None:
    def command(
        ids: Annotated[list[str], typer.Argument(metavar="ID...")],
        url: str = URL,
        token: str = TOKEN,
    ) -> None:
        _control(action, ids, url, token)

    command.__doc__ = f"{action.capitalize()} jobs by id."
    jobs_app.command(action)(command)


for _action in PAST:
    _register_control(_action)


@jobs_app.command("priority")
def jobs_priority(
    ids: Annotated[list[str], typer.Argument(metavar="ID...")],
    level: str = typer.Option(
        ...,
        "--priority",
        help="an integer (lower runs first) or low, normal, medium, high, critical",
    ),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Change the priority of queued (waiting, ready, paused) jobs by id."""
    priority: int | str = int(level) if level.lstrip("-").isdigit() else level
    _control("set_priority", ids, url, token, f"priority {level}:", priority=priority)


@jobs_app.command("delay")
def jobs_delay(
    ids: Annotated[list[str], typer.Argument(metavar="ID...")],
    seconds: float = typer.Option(..., "--seconds", min=0, help="from now; 0 runs them now"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Make queued (waiting, ready, paused) jobs run later, or now, by id."""
    _control("set_delay", ids, url, token, f"delayed {seconds:g} s:", delay=seconds)
