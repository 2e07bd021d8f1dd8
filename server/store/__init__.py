"""Stores: ``open_store(url)`` picks the backend a URL names and imports only that one.

The interface every backend implements is ``livejobs.store.base.Store``; backends live in the
sub-packages ``sqlite``, ``postgres`` and ``mongo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livejobs.errors import StoreRefused
from livejobs.store.base import Store

if TYPE_CHECKING:
    from livejobs.store.migrations import Migration

__all__ = ["is_postgres", "open_store", "pending_migrations", "sqlite_path"]


async def pending_migrations(url: str) -> list[Migration]:
    """The migrations opening the store at ``url`` would apply, read without changing it;
    ``StoreRefused`` for a store of a newer livejobs."""
    if is_postgres(url):
        _need_asyncpg()
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
    if is_postgres(url):
        _need_asyncpg()
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


def _need_asyncpg() -> None:
    """The PostgreSQL store's driver is an extra (``livejobs[postgres]``): say so plainly."""
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        raise StoreRefused(
            f"PostgreSQL needs the asyncpg driver ({exc}): pip install 'livejobs[postgres]'"
        ) from exc
