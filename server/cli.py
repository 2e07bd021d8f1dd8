"""The ``livejobs`` command: serve, migrate a store, and manage its users and tokens."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from livejobs.cli_admin import TOKEN as ADMIN_TOKEN
from livejobs.cli_admin import URL as ADMIN_URL
from livejobs.cli_client import jobs_app, watch
from livejobs.cli_worker import worker
from livejobs.errors import LivejobsError
from livejobs.gc_tuning import tune_for_serving
from livejobs.settings import Settings, SettingsError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="livejobs: a reactive job server."
)
user_app = typer.Typer(no_args_is_help=True, help="Users of a store.")
token_app = typer.Typer(no_args_is_help=True, help="Tokens of a store's users.")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

T = TypeVar("T")

DB_HELP = "SQLite file, sqlite:///path, or mongodb://... (env LIVEJOBS_DB / LIVEJOBS_MONGODB_URI)"


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


#: serve's flags whose names are not ``--the-setting-name``
SERVE_FLAGS = {"lease_seconds": "--lease", "sqlite_synchronous": "--synchronous"}


def load_settings(overrides: dict[str, Any], config: str | None = None) -> Settings:
    """Every command's settings; a bad one is one line and exit 2, typer's usage-error code."""
    try:
        return Settings.load(overrides, config, SERVE_FLAGS)
    except SettingsError as exc:
        fail(str(exc), 2)
        raise  # unreachable


@app.command()
def serve(
    db: str = typer.Option(None, help=DB_HELP),
    host: str = typer.Option(None, help="interface to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default 8000)"),
    config: str = typer.Option(None, help="TOML file with a \\[livejobs] table"),
    admin_token: str = typer.Option(None, help="use this admin token instead of a random one"),
    anonymous_role: str = typer.Option(None, help="let unauthenticated clients act with this role"),
    lease: float = typer.Option(
        None, "--lease", help="seconds a worker holds a job without a heartbeat"
    ),
    synchronous: str = typer.Option(None, help="SQLite durability: NORMAL (default) or FULL"),
    log_level: str = typer.Option(None, help="debug, info, warning, error"),
    log_format: str = typer.Option(None, help="text or json"),
    shutdown_grace: float = typer.Option(
        None, help="on SIGTERM, seconds running jobs may finish before being handed back"
    ),
) -> None:
    """Run the server: WebSocket at /ws, HTTP API at /api, dashboard at /, /metrics."""
    import uvicorn

    from livejobs.app import create_app
    from livejobs.logs import quiet_access_log, setup_logging
    from livejobs.shutdown import serve as serve_gracefully

    settings = load_settings(
        {
            "db": db,
            "host": host,
            "port": port,
            "admin_token": admin_token,
            "anonymous_role": anonymous_role,
            "lease_seconds": lease,
            "sqlite_synchronous": synchronous,
            "log_level": log_level,
            "log_format": log_format,
            "shutdown_grace": shutdown_grace,
        },
        config,
    )
    listener = _bind(settings.host, settings.port)  # before anything is created or printed
    _refuse_a_newer_store(settings.db)
    setup_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    uvicorn_config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        # frames past max_frame_bytes get a too_large error; only far beyond is the socket cut
        ws_max_size=settings.max_frame_bytes * 16,
        # compressing every live frame for every subscriber costs more CPU than the fan-out
        # itself; a deployment that pays for bandwidth can turn it on
        ws_per_message_deflate=settings.ws_compression,
        timeout_graceful_shutdown=10,
    )
    quiet_access_log(settings.log_level)  # uvicorn.Config just reset its loggers' levels
    tune_for_serving()
    serve_gracefully(app, uvicorn_config, settings.shutdown_grace, [listener])


def _bind(host: str, port: int) -> socket.socket:
    """Listen first: on a port already in use, a fresh database used to be created and its
    admin token and dashboard URL printed, pointing at whichever server held the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; nothing was created", 3)
    sock.set_inheritable(True)
    return sock


def _refuse_a_newer_store(url: str) -> None:
    """A SQLite file of a newer livejobs is refused in one line here, before uvicorn's start-up
    would report it with a traceback (MongoDB's refusals come from the store's own open)."""
    import sqlite3

    from livejobs.store import need_driver, pending_migrations

    try:
        need_driver(url)  # a store whose driver is not installed: name the extra
        if url.startswith(("mongodb://", "mongodb+srv://")):
            return
        asyncio.run(pending_migrations(url))
    except LivejobsError as exc:
        fail(exc.message)
    except (sqlite3.Error, OSError):
        pass  # not a database, say: opening it reports that


def _on_store(db: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
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
        raise  # unreachable


@app.command()
def migrate(
    db: str = typer.Option(None, help=DB_HELP),
    check: bool = typer.Option(
        False, "--check", help="only say which migrations are pending (exit 1 if any)"
    ),
) -> None:
    """Bring the store's schema up to this livejobs' version (serve does it at start too)."""
    from livejobs.store import pending_migrations
    from livejobs.store.migrations import describe

    url = load_settings({"db": db}).db
    try:
        pending = asyncio.run(pending_migrations(url))
    except LivejobsError as exc:
        fail(exc.message)
        return
    if not pending:
        typer.echo("the store's schema is up to date: nothing to migrate")
        return
    if check:
        typer.echo(f"{len(pending)} migration(s) pending:\n{describe(pending)}")
        raise typer.Exit(1)
    _on_store(db, lambda auth: asyncio.sleep(0))  # opening the store migrates it
    typer.echo(f"applied {len(pending)} migration(s):\n{describe(pending)}")


def _admin(
    db: str | None,
    url: str | None,
    token: str | None,
    method: str,
    params: dict[str, Any],
    work: Callable[[Any], Awaitable[T]],
) -> T:
    """``work(auth)`` on the database, or ``method`` on the running server at ``url``; the
    one used is said on stderr (``livejobs.cli_admin``)."""
    from livejobs import cli_admin, cli_client

    try:
        server = cli_admin.server_url(db, url)
        if server is not None:
            typer.echo(f"server: {server}", err=True)
            result: T = cli_client.run(server, token, lambda client: client.call(method, params))
            return result
        settings = load_settings({"db": db})
        typer.echo(f"database: {cli_admin.existing_database(settings.db)}", err=True)
    except cli_admin.AdminError as exc:
        fail(str(exc))
    return _on_store(db, work)


@user_app.command("add")
def user_add(
    name: str,
    role: str = typer.Option(..., help="admin, manager, creator or worker"),
    types: str = typer.Option(None, help="comma-separated job types a worker may take"),
    db: str = typer.Option(None, help=DB_HELP),
    url: str = ADMIN_URL,
    token: str = ADMIN_TOKEN,
) -> None:
    """Add a user with a role."""
    allowed = [t for t in (types or "").split(",") if t] or None
    params = {"name": name, "role": role, "types": allowed}
    user = _admin(db, url, token, "users.add", params, lambda a: a.add_user(name, role, allowed))
    typer.echo(f"added {user['role']} {user['name']}")


@user_app.command("rm")
def user_rm(name: str, db: str = typer.Option(None, help=DB_HELP)) -> None:
    """Remove a user and its tokens; its open sessions end on every server of the store."""
    _on_store(db, lambda auth: auth.remove_user(name))
    typer.echo(f"removed {name}")


@user_app.command("ls")
def user_ls(
    db: str = typer.Option(None, help=DB_HELP), url: str = ADMIN_URL, token: str = ADMIN_TOKEN
) -> None:
    """List users."""
    for user in _admin(db, url, token, "users.list", {}, lambda auth: auth.list_users()):
        typer.echo(f"{user['name']}\t{user['role']}\t{','.join(user.get('types') or [])}")


@token_app.command("create")
def token_create(
    user: str,
    expires: float = typer.Option(None, help="seconds until the token expires"),
    db: str = typer.Option(None, help=DB_HELP),
    url: str = ADMIN_URL,
    token: str = ADMIN_TOKEN,
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
    url: str = ADMIN_URL,
    token: str = ADMIN_TOKEN,
) -> None:
    """Revoke a token by its id."""
    params = {"id": token_id}
    _admin(db, url, token, "tokens.revoke", params, lambda auth: auth.revoke_token(token_id))
    typer.echo(f"revoked {token_id}")


@token_app.command("ls")
def token_ls(
    user: str = typer.Option(None),
    db: str = typer.Option(None, help=DB_HELP),
    url: str = ADMIN_URL,
    token: str = ADMIN_TOKEN,
) -> None:
    """List tokens (ids, never the secrets)."""
    params = {"user": user}
    for record in _admin(db, url, token, "tokens.list", params, lambda a: a.list_tokens(user)):
        state = "revoked" if record.get("revoked") else "active"
        typer.echo(f"{record['id']}\t{record['user']}\t{state}")


@app.command()
def backup(
    path: str,
    db: str = typer.Option(None, help=DB_HELP),
    force: bool = typer.Option(False, "--force", help="replace PATH if it exists"),
) -> None:
    """Copy a live SQLite store to PATH while servers keep writing (docs/operations.md)."""
    from livejobs import backup as backups

    copied = _on_file(lambda store: backups.backup(store, path, force=force), db)
    typer.echo(f"backed up {_jobs(copied.jobs)} to {copied.path} ({copied.bytes:,} bytes)")


@app.command()
def restore(
    backup: str,
    db: str = typer.Option(None, help=DB_HELP),
    force: bool = typer.Option(False, "--force", help="replace the store's database if it exists"),
) -> None:
    """Put a backup in place as the store's database; refused while a server uses it."""
    from livejobs import backup as backups

    copied = _on_file(lambda store: backups.restore(backup, store, force=force), db)
    typer.echo(f"restored {_jobs(copied.jobs)} to {copied.path}")


def _on_file(work: Callable[[str], T], db: str | None = None) -> T:
    """``work(settings.db)``; a user's mistake becomes one line and exit 1."""
    try:
        return work(load_settings({"db": db}).db)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    except LivejobsError as exc:
        fail(exc.message)
    raise AssertionError  # unreachable: fail exits


def _jobs(count: int | None) -> str:
    if count is None:
        return "a database with no jobs table"
    return "1 job" if count == 1 else f"{count:,} jobs"


# commands that talk to a running server (server/cli_client.py, server/cli_worker.py)
app.add_typer(jobs_app, name="jobs")
app.command("watch")(watch)
app.command("worker")(worker)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
