"""The server side of the ``livejobs`` command: serve, migrate, backup and restore a store.

Nothing here talks to a running server as a client (that is ``livejobs.cli.client``), so these
commands import neither the SDK nor each other's heavy parts until they run.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TypeVar

import typer

from livejobs.cli.common import DB_HELP, fail, load_settings, on_store
from livejobs.errors import LivejobsError
from livejobs.gc_tuning import tune_for_serving
from livejobs.settings import Settings

T = TypeVar("T")


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
    flags = {
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
    }
    run_server(load_settings(flags, config))


def run_server(settings: Settings) -> None:
    """Listen, check the store, then run uvicorn until a signal ends it gracefully."""
    import uvicorn

    from livejobs.app import create_app
    from livejobs.edges.wire import uvicorn_options
    from livejobs.logs import quiet_access_log, setup_logging
    from livejobs.shutdown import serve as serve_gracefully

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
        timeout_graceful_shutdown=10,
        **uvicorn_options(settings),
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
    if not pending:
        typer.echo("the store's schema is up to date: nothing to migrate")
        return
    if check:
        typer.echo(f"{len(pending)} migration(s) pending:\n{describe(pending)}")
        raise typer.Exit(1)
    on_store(db, lambda auth: asyncio.sleep(0))  # opening the store migrates it
    typer.echo(f"applied {len(pending)} migration(s):\n{describe(pending)}")


def backup(
    path: str,
    db: str = typer.Option(None, help=DB_HELP),
    force: bool = typer.Option(False, "--force", help="replace PATH if it exists"),
) -> None:
    """Copy a live SQLite store to PATH while servers keep writing (docs/operations.md)."""
    from livejobs import backup as backups

    copied = _on_file(lambda store: backups.backup(store, path, force=force), db)
    typer.echo(f"backed up {_jobs(copied.jobs)} to {copied.path} ({copied.bytes:,} bytes)")


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
