"""``livejobs types ...``: a job type's (a queue's) rules on a running server — whether it is
paused, its limits (rate, concurrency, and both per group), the defaults its new jobs get
(time limit, retry policy) and how long, or how many of, its finished jobs are kept.

``types.set_limits`` replaces every limit (an omitted one is removed) and ``types.set_retry``
the whole policy, so ``limit`` and ``defaults`` read the type's rules first, change only what
the user named, and send the change at the revision they read: if someone changed the rules
in between, the server refuses it (``conflict``) and the command reads them again. A value
the command cannot read is one line and exit 2 (as a usage error); the server's refusal (a
creator's token, a value out of bounds) one line and exit 1.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import typer
from rich import box
from rich.table import Table

from livejobs.cli import safe_text
from livejobs.cli.client import TOKEN, URL, Failure, listed_plainly, run, stdout
from livejobs.cli.common import fail
from livejobs_sdk import Client
from livejobs_sdk.type_rules import LIMITS

types_app = typer.Typer(
    no_args_is_help=True,
    help="Job types (queues) on a running server: pause, resume, limits, defaults, keep.",
)

#: the value that removes a limit or a default
NONE = "none"
BACKOFFS = ("constant", "exponential")
RATE_WANTED = "give N/SECONDS (e.g. 100/60: at most 100 starts in any 60 seconds) or none"
TYPE_ARG = typer.Argument(..., metavar="TYPE", help="the job type (queue)")


# -- reading what the user typed --------------------------------------------------------------


def usage(option: str, value: str, wanted: str) -> NoReturn:
    """A value the command cannot read: one line, exit 2 (click's usage-error code)."""
    fail(f"{option} {value!r}: {wanted}", 2)


def number(
    option: str, value: str, wanted: str, *, text: str = "", whole: bool = False, zero: bool = True
) -> Any:
    """``text`` (default: ``value``) as a finite number, >= 0 (> 0 unless ``zero``), an int
    when ``whole``; anything else a usage error about ``value``."""
    text = text or value
    try:
        parsed = int(text) if whole else float(text)
    except ValueError:
        usage(option, value, wanted)
    if not math.isfinite(parsed) or parsed < 0 or (parsed == 0 and not zero):
        usage(option, value, wanted)
    return parsed


def removes(value: str) -> bool:
    return value.strip().lower() == NONE


def parse_rate(option: str, value: str, prefix: str = "") -> dict[str, Any]:
    """``N/SECONDS`` as ``{rate_limit, rate_per}`` (named with ``prefix``); ``none`` as both
    None, which removes the rate limit."""
    names = (f"{prefix}rate_limit", f"{prefix}rate_per")
    if removes(value):
        return dict.fromkeys(names)
    count, slash, seconds = value.partition("/")
    if not slash:
        usage(option, value, RATE_WANTED)
    limit = number(option, value, RATE_WANTED, text=count.strip(), whole=True, zero=False)
    per = number(option, value, RATE_WANTED, text=seconds.strip(), zero=False)
    return {names[0]: limit, names[1]: per}


def count_or_none(option: str, value: str) -> int | None:
    """A whole number >= 0, or None for ``none``."""
    if removes(value):
        return None
    return int(number(option, value, "give a whole number >= 0 or none", whole=True))


def seconds_or_none(option: str, value: str, *, zero: bool = True) -> float | None:
    """Seconds (>= 0, or > 0 unless ``zero``), or None for ``none``."""
    if removes(value):
        return None
    wanted = f"give seconds {'>= 0' if zero else '> 0'} or none"
    return float(number(option, value, wanted, zero=zero))


# -- showing rules ----------------------------------------------------------------------------


def plain(value: float) -> str:
    """``60.0`` → ``60``, ``0.5`` → ``0.5``, never an exponent for a sane number of seconds."""
    return format(value, ".15g")


def per(limit: int | None, seconds: float | None) -> str:
    return "-" if limit is None or seconds is None else f"{limit} / {plain(seconds)} s"


def retry_text(retry: dict[str, Any] | None) -> str:
    """``3 (wait 5 s, exponential, max 60 s)``; ``-`` without a policy."""
    if retry is None:
        return "-"
    extras = []
    if retry.get("wait"):
        extras.append(f"wait {plain(retry['wait'])} s")
    if retry.get("backoff", "constant") != "constant":
        extras.append(str(retry["backoff"]))
    if retry.get("max_wait") is not None:
        extras.append(f"max {plain(retry['max_wait'])} s")
    retries = str(retry.get("retries", 0))
    return f"{retries} ({', '.join(extras)})" if extras else retries


def cells(rules: dict[str, Any]) -> dict[str, str]:
    """A type's rules as ``ls`` shows them, column by column (``-``: not set)."""

    def count(name: str) -> str:
        value = rules.get(name)
        return "-" if value is None else str(value)

    def seconds(name: str) -> str:
        value = rules.get(name)
        return "-" if value is None else f"{plain(value)} s"

    return {
        "state": "paused" if rules.get("paused") else "active",
        "rate": per(rules.get("rate_limit"), rules.get("rate_per")),
        "concurrency": count("concurrency"),
        "group rate": per(rules.get("group_rate_limit"), rules.get("group_rate_per")),
        "group concurrency": count("group_concurrency"),
        "time limit": seconds("time_limit"),
        "retries": retry_text(rules.get("retry")),
        "retain": seconds("retain"),
        "keep": ", ".join(f"{n} {s}" for s, n in (rules.get("keep") or {}).items()) or "-",
    }


def summary(rules: dict[str, Any]) -> str:
    """One line: ``email: paused, rate 100 / 60 s, concurrency 5, retries 3``."""
    shown = cells(rules)
    parts = [shown.pop("state")] + [f"{k} {v}" for k, v in shown.items() if v != "-"]
    return safe_text.shown(f"{rules['type']}: {', '.join(parts)}")  # the type is anyone's


# -- commands ---------------------------------------------------------------------------------


def option(name: str, metavar: str, help: str) -> Any:
    """An option whose value the command reads itself (``none``, where it removes a rule)."""
    return typer.Option(None, name, metavar=metavar, help=help)


@types_app.command("ls")
def types_ls(
    as_json: bool = typer.Option(False, "--json", help="one JSON record per line"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """List the types that have rules: paused or active, limits, defaults, retention."""
    records = run(url, token, lambda c: c.call("types.list", {}))
    records = sorted(records, key=lambda r: str(r["type"]))
    if listed_plainly(records, as_json, "no types with rules"):
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("type", no_wrap=True)
    for name in cells({}):
        table.add_column(name, no_wrap=True)
    for record in records:
        row = (record["type"], *cells(record).values())
        table.add_row(*(safe_text.plain(cell) for cell in row))
    stdout().print(table)


def _switch(method: str, job_type: str, url: str, token: str | None) -> None:
    typer.echo(summary(run(url, token, lambda c: c.call(method, {"type": job_type}))))


@types_app.command("pause")
def types_pause(job_type: str = TYPE_ARG, url: str = URL, token: str = TOKEN) -> None:
    """Pause a type: every server stops starting its jobs (running ones finish)."""
    _switch("types.pause", job_type, url, token)


@types_app.command("resume")
def types_resume(job_type: str = TYPE_ARG, url: str = URL, token: str = TOKEN) -> None:
    """Resume a paused type."""
    _switch("types.resume", job_type, url, token)


@types_app.command("limit")
def types_limit(
    job_type: str = TYPE_ARG,
    rate: str | None = option(
        "--rate",
        "N/SECONDS",
        "at most N starts in any SECONDS seconds (e.g. 100/60); none removes it",
    ),
    concurrency: str | None = option(
        "--concurrency", "N", "at most N running at once; none removes it"
    ),
    group_concurrency: str | None = option(
        "--group-concurrency",
        "N",
        "at most N running at once per group (a job's group); none removes it",
    ),
    group_rate: str | None = option(
        "--group-rate",
        "N/SECONDS",
        "at most N starts in any SECONDS seconds per group; none removes it",
    ),
    clear: bool = typer.Option(
        False, "--clear", help="remove the limits not named here (alone: every limit)"
    ),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Change a type's limits, keeping those not named (unless --clear).

    The limits hold across every server; a limit's value 'none' removes it.
    """
    changes: dict[str, Any] = {}
    if rate is not None:
        changes |= parse_rate("--rate", rate)
    if concurrency is not None:
        changes["concurrency"] = count_or_none("--concurrency", concurrency)
    if group_concurrency is not None:
        changes["group_concurrency"] = count_or_none("--group-concurrency", group_concurrency)
    if group_rate is not None:
        changes |= parse_rate("--group-rate", group_rate, "group_")
    if not changes and not clear:
        fail(
            "name a limit (--rate, --concurrency, --group-rate, --group-concurrency) or --clear", 2
        )

    def limits_from(current: dict[str, Any]) -> dict[str, Any]:
        limits = {name: None if clear else current.get(name) for name in LIMITS} | changes
        return {name: value for name, value in limits.items() if value is not None}

    async def work(client: Client) -> dict[str, Any]:
        if clear:  # nothing read, nothing kept
            params = {"type": job_type, **limits_from({})}
            return dict(await client.call("types.set_limits", params))
        return await client.change_type_rules(job_type, "types.set_limits", limits_from)

    typer.echo(summary(run(url, token, work)))


@types_app.command("keep")
def types_keep(
    job_type: str = TYPE_ARG,
    completed: str | None = option("--completed", "N", "keep the newest N completed jobs"),
    failed: str | None = option("--failed", "N", "keep the newest N failed jobs"),
    cancelled: str | None = option("--cancelled", "N", "keep the newest N cancelled jobs"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Keep only a type's newest finished jobs: older ones are removed, on every server.

    Counts named replace the type's; other statuses keep jobs for their retention time.

    Naming no count removes the rule.
    """
    given = {"completed": completed, "failed": failed, "cancelled": cancelled}
    counts = {s: count_or_none(f"--{s}", v) for s, v in given.items() if v is not None}
    params = {"type": job_type, "keep": {s: n for s, n in counts.items() if n is not None}}
    typer.echo(summary(run(url, token, lambda c: c.call("types.set_keep", params))))


def retry_changes(retries: str | None, wait: str | None, backoff: str | None) -> dict[str, Any]:
    """What ``defaults`` changes in the retry policy: ``{}`` nothing, ``{"retries": None}``
    remove it, else the named fields."""
    if retries is not None and removes(retries):
        if wait is not None or backoff is not None:
            fail("--retries none removes the retry policy: leave out --retry-wait and --backoff", 2)
        return {"retries": None}
    changes: dict[str, Any] = {}
    if retries is not None:
        changes["retries"] = int(
            number("--retries", retries, "give a whole number >= 0 or none", whole=True)
        )
    if wait is not None:
        changes["wait"] = float(number("--retry-wait", wait, "give seconds >= 0"))
    if backoff is not None:
        if backoff.strip().lower() not in BACKOFFS:
            usage("--backoff", backoff, "give constant or exponential")
        changes["backoff"] = backoff.strip().lower()
    return changes


async def _set_retry(client: Client, job_type: str, changes: dict[str, Any]) -> Any:
    """``types.set_retry`` with the type's policy changed only in ``changes``."""
    if changes == {"retries": None}:
        return await client.call("types.set_retry", {"type": job_type})

    def retry_from(rules: dict[str, Any]) -> dict[str, Any]:
        current = rules.get("retry")
        if current is None and "retries" not in changes:
            raise Failure(f"{job_type} has no retry policy to change: give --retries too")
        return {"retry": {**(current or {}), **changes}}

    return await client.change_type_rules(job_type, "types.set_retry", retry_from)


@types_app.command("defaults")
def types_defaults(
    job_type: str = TYPE_ARG,
    time_limit: str | None = option(
        "--time-limit",
        "SECONDS",
        "an attempt running longer is stopped and failed; none removes it",
    ),
    retries: str | None = option(
        "--retries", "N", "failed attempts to retry; none removes the policy"
    ),
    retry_wait: str | None = option("--retry-wait", "SECONDS", "seconds before a retry"),
    backoff: str | None = option(
        "--backoff", "constant|exponential", "exponential doubles the wait at each retry"
    ),
    retain: str | None = option(
        "--retain",
        "SECONDS",
        "seconds finished jobs are kept; none: the server's retain_seconds again",
    ),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Change a type's defaults, keeping those not named.

    For jobs created (time limit, retries) or finishing (retain) from now on; 'none' removes one.
    """
    calls: list[tuple[str, dict[str, Any]]] = []
    if time_limit is not None:
        seconds = seconds_or_none("--time-limit", time_limit, zero=False)
        calls.append(("types.set_time_limit", {} if seconds is None else {"time_limit": seconds}))
    if retain is not None:
        kept = seconds_or_none("--retain", retain)
        calls.append(("types.set_retain", {} if kept is None else {"retain": kept}))
    retry = retry_changes(retries, retry_wait, backoff)
    if not calls and not retry:
        fail("name a default (--time-limit, --retries, --retry-wait, --backoff, --retain)", 2)

    async def work(client: Client) -> dict[str, Any]:
        rules: Any = None
        if retry:
            rules = await _set_retry(client, job_type, retry)
        for method, params in calls:
            rules = await client.call(method, {"type": job_type, **params})
        return dict(rules)

    typer.echo(summary(run(url, token, work)))
