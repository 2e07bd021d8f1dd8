"""Where an admin command (``user …``, ``token …``) acts: a running server or a database.

Run from the wrong directory, these commands used to create a new, empty SQLite file next to
the operator, report success, and leave tokens the real server did not know (``401 unknown
token``). Now a command never creates a database, says on stderr which database (or server) it
used, and can act through a running server with ``--url`` and an admin ``--token`` (or
``LIVEJOBS_URL`` / ``LIVEJOBS_TOKEN``, as the client commands do) instead of a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import typer

from livejobs.store import sqlite_path

URL = typer.Option(
    None,
    "--url",
    help="act through the running server at this address (env LIVEJOBS_URL), not a database",
)
TOKEN = typer.Option(None, "--token", envvar="LIVEJOBS_TOKEN", help="an admin token, with --url")
#: the environment variables that name a database (livejobs.settings reads them)
DB_VARIABLES = ("LIVEJOBS_DB", "LIVEJOBS_MONGODB_URI")


class AdminError(Exception):
    """An operator's mistake: one line, exit 1."""


def server_url(db: str | None, url: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """The server to act through, or None for a database. Flags decide; then a
    ``LIVEJOBS_URL`` alone; both kinds of environment variable at once is a question."""
    if db is not None and url is not None:
        raise AdminError("give --db or --url, not both")
    if db is not None or url is not None:
        return url
    named = [name for name in DB_VARIABLES if env.get(name)]
    if env.get("LIVEJOBS_URL") and named:
        raise AdminError(
            f"both LIVEJOBS_URL and {named[0]} are set: give --url or --db to say which to use"
        )
    return env.get("LIVEJOBS_URL") or None


def existing_database(url: str) -> str:
    """The database ``url`` names, for the operator to read; a missing SQLite file is refused,
    naming the path tried, instead of being created empty."""
    path = sqlite_path(url)
    if path is None:
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]  # never print a password
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    if path == ":memory:":
        return path
    full = Path(path).expanduser().resolve()
    if not full.is_file():
        raise AdminError(
            f"no database at {full}; admin commands never create one: give --db with the "
            "server's database, or --url and --token of a running server"
        )
    return str(full)
