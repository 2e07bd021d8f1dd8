"""What every ``livejobs`` command shares: one-line errors, settings, a store opened for a
moment. Nothing here talks to a server, so the server-side commands need no client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer

from livejobs.cli.safe_text import shown
from livejobs.errors import LivejobsError
from livejobs.settings import Settings, SettingsError

T = TypeVar("T")

DB_HELP = "SQLite file, sqlite:///path, or mongodb://... (env LIVEJOBS_DB / LIVEJOBS_MONGODB_URI)"
#: serve's flags whose names are not ``--the-setting-name``
SERVE_FLAGS = {"lease_seconds": "--lease", "sqlite_synchronous": "--synchronous"}


def fail(message: str, code: int = 1) -> NoReturn:
    """A user's mistake: one red line on stderr, exit ``code``, never a traceback. A server's
    message may quote what it was given, so it is shown as one line of text (``shown``)."""
    typer.secho(f"error: {shown(message)}", fg="red", err=True)
    raise typer.Exit(code)


def load_settings(overrides: dict[str, Any], config: str | None = None) -> Settings:
    """Every command's settings; a bad one is one line and exit 2, typer's usage-error code."""
    try:
        return Settings.load(overrides, config, SERVE_FLAGS)
    except SettingsError as exc:
        fail(str(exc), 2)


def on_store(db: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the store, run ``work(auth)``, close; user mistakes become one line and exit 1."""
    from livejobs.auth import Auth
    from livejobs.clock import StoreClock
    from livejobs.store import open_store

    settings = load_settings({"db": db})

    async def run() -> T:
        store = open_store(settings.db)
        await store.open()
        try:
            clock = StoreClock()  # a token's expiry on the servers' time, as they check it
            await clock.sync(store.store_time)
            return await work(Auth(store, clock))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except LivejobsError as exc:
        fail(exc.message)
