"""Stores: ``open_store(url)`` picks the backend a URL names and imports only that one.

The interface every backend implements is ``livejobs.store.base.Store``; backends live in the
sub-packages ``sqlite``, ``postgres`` and ``mongo``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from livejobs.errors import StoreRefused
from livejobs.store.base import Store

if TYPE_CHECKING:
    from livejobs.store.migrations import Migration

__all__ = ["is_postgres", "need_driver", "open_store", "pending_migrations", "sqlite_path"]


async def pending_migrations(url: str) -> list[Migration]:
    """The migrations opening the store at ``url`` would apply, read without changing it;
    ``StoreRefused`` for a store of a newer livejobs."""
    need_driver(url)
    if is_postgres(url):
        from livejobs.store.postgres.store import pending_at

        return await pending_at(url)
    path = sqlite_path(url)
    if path is None:
        from livejobs.store.mongo import migrations as mongo_migrations

        return await mongo_migrations.pending_at(url)
    from livejobs.store.sqlite import migrations as sqlite_migrations

    return sqlite_migrations.pending(path)


def open_store(url: str, *, synchronous: str = "NORMAL") -> Store:
    """``mongodb://...`` / ``mongodb+srv://...`` → MongoStore; ``postgresql://...`` /
    ``postgres://...`` → PostgresStore; anything else is a SQLite path (``sqlite:///path``,
    ``sqlite://:memory:`` or a bare path) opened with ``synchronous``."""
    need_driver(url)
    if is_postgres(url):
        from livejobs.store.postgres import PostgresStore

        return PostgresStore(url)
    path = sqlite_path(url)
    if path is None:
        from livejobs.store.mongo import MongoStore

        return MongoStore(url)
    from livejobs.store.sqlite import SQLiteStore

    mode = synchronous.upper()
    if mode not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    return SQLiteStore(path, synchronous=mode)  # type: ignore[arg-type]


def sqlite_path(url: str) -> str | None:
    """The SQLite file a store URL names, as ``open_store`` reads it; None for MongoDB and
    PostgreSQL."""
    if url.startswith(("mongodb://", "mongodb+srv://")) or is_postgres(url):
        return None
    return url.removeprefix("sqlite:///").removeprefix("sqlite://")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def need_driver(url: str) -> None:
    """The MongoDB and PostgreSQL stores' drivers are extras (``livejobs[mongo]``,
    ``livejobs[postgres]``): a missing one is named with the command that installs it."""
    if is_postgres(url):
        module, store, extra = "asyncpg", "PostgreSQL", "postgres"
    elif sqlite_path(url) is None:
        module, store, extra = "pymongo", "MongoDB", "mongo"
    else:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise StoreRefused(
            f"{store} needs the {module} driver ({exc}): pip install 'livejobs[{extra}]'"
        ) from exc
