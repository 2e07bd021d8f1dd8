"""The admin commands, ``user …`` and ``token …``, and where they act: a database or a server.

Run from the wrong directory, these commands used to create a new, empty SQLite file next to
the operator, report success, and leave tokens the real server did not know (``401 unknown
token``). Now a command never creates a database, says on stderr which database (or server) it
used, and can act through a running server with ``--url`` and an admin ``--token`` (or
``LIVEJOBS_URL`` / ``LIVEJOBS_TOKEN``, as the client commands do) instead of a file; through
a server they are a client (``livejobs.cli.client``) like any other.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer

from livejobs.cli import client
from livejobs.cli.common import DB_HELP, fail, load_settings, on_store
from livejobs.cli.safe_text import shown
from livejobs.roles import ROLES
from livejobs.store import sqlite_path

T = TypeVar("T")

user_app = typer.Typer(no_args_is_help=True, help="Users of a store.")
token_app = typer.Typer(no_args_is_help=True, help="Tokens of a store's users.")

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


def _admin(
    db: str | None,
    url: str | None,
    token: str | None,
    method: str,
    params: dict[str, Any],
    work: Callable[[Any], Awaitable[T]],
) -> T:
    """``work(auth)`` on the database, or ``method`` on the running server at ``url``; the
    one used is said on stderr."""
    try:
        server = server_url(db, url)
        if server is not None:
            typer.echo(f"server: {server}", err=True)
            result: T = client.run(server, token, lambda c: c.call(method, params))
            return result
        settings = load_settings({"db": db})
        typer.echo(f"database: {existing_database(settings.db)}", err=True)
    except AdminError as exc:
        fail(str(exc))
    return on_store(db, work)


@user_app.command("add")
def user_add(
    name: str,
    role: str = typer.Option(..., help=f"{', '.join(ROLES[:-1])} or {ROLES[-1]}"),
    types: str = typer.Option(None, help="comma-separated job types a worker may take"),
    db: str = typer.Option(None, help=DB_HELP),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Add a user with a role."""
    allowed = [t for t in (types or "").split(",") if t] or None
    params = {"name": name, "role": role, "types": allowed}
    user = _admin(db, url, token, "users.add", params, lambda a: a.add_user(name, role, allowed))
    typer.echo(f"added {user['role']} {user['name']}")


@user_app.command("rm")
def user_rm(name: str, db: str = typer.Option(None, help=DB_HELP)) -> None:
    """Remove a user and its tokens; its open sessions end on every server of the store."""
    on_store(db, lambda auth: auth.remove_user(name))
    typer.echo(f"removed {name}")


@user_app.command("ls")
def user_ls(db: str = typer.Option(None, help=DB_HELP), url: str = URL, token: str = TOKEN) -> None:
    """List users."""
    for user in _admin(db, url, token, "users.list", {}, lambda auth: auth.list_users()):
        types = ",".join(user.get("types") or [])
        typer.echo("\t".join(shown(v) for v in (user["name"], user["role"], types)))


@token_app.command("create")
def token_create(
    user: str,
    expires: float = typer.Option(None, help="seconds until the token expires"),
    db: str = typer.Option(None, help=DB_HELP),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Create a token for a user and print it (only this once)."""
    params = {"user": user, "expires": expires}
    record = _admin(
        db, url, token, "tokens.create", params, lambda auth: auth.create_token(user, expires)
    )
    typer.echo(record["token"])
    typer.echo(
        f"(token id {record['id']}; revoke with: livejobs token revoke {record['id']})", err=True
    )


@token_app.command("revoke")
def token_revoke(
    token_id: str,
    db: str = typer.Option(None, help=DB_HELP),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Revoke a token by its id."""
    params = {"id": token_id}
    _admin(db, url, token, "tokens.revoke", params, lambda auth: auth.revoke_token(token_id))
    typer.echo(f"revoked {token_id}")


@token_app.command("ls")
def token_ls(
    user: str = typer.Option(None),
    db: str = typer.Option(None, help=DB_HELP),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """List tokens (ids, never the secrets)."""
    params = {"user": user}
    for record in _admin(db, url, token, "tokens.list", params, lambda a: a.list_tokens(user)):
        state = "revoked" if record.get("revoked") else "active"
        typer.echo("\t".join(shown(v) for v in (record["id"], record["user"], state)))
