"""The ``store`` fixture: every backend the contract suite runs against.

SQLite always (a real file in ``tmp_path``); PostgreSQL always, a fresh database per test in
the session's throwaway cluster (``tests/pg.py``); MongoDB only when
``LIVEJOBS_TEST_MONGODB_URI`` points at a replica set, each test in a fresh database that is
dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from livejobs.store.base import Store

MONGODB_URI = os.environ.get("LIVEJOBS_TEST_MONGODB_URI")
NO_MONGODB = "LIVEJOBS_TEST_MONGODB_URI not set: MongoDB contract tests need a replica set"


@dataclass
class Backend:
    """One place to keep data; ``open()`` gives a new store on it (to test reopening)."""

    name: str
    open: Callable[[], Awaitable[Store]]


def _with_database(uri: str, name: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(params=["sqlite", "postgres", "mongodb"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened: list[Store] = []

    async def track(store: Store) -> Store:
        await store.open()
        opened.append(store)
        return store

    if request.param == "sqlite":
        from livejobs.store.sqlite import SQLiteStore

        try:
            yield Backend("sqlite", lambda: track(SQLiteStore(str(tmp_path / "jobs.db"))))
        finally:
            for store in opened:
                await store.close()
        return

    if request.param == "postgres":
        from livejobs.store.postgres import PostgresStore

        url = request.getfixturevalue("pg_cluster").create_database()
        try:
            yield Backend("postgres", lambda: track(PostgresStore(url, pool_size=4)))
        finally:
            for store in opened:
                await store.close()
        return

    if not MONGODB_URI:
        pytest.skip(NO_MONGODB)
    from pymongo import AsyncMongoClient

    from livejobs.store.mongo import MongoStore

    database = f"livejobs_test_{uuid.uuid4().hex[:12]}"
    try:
        yield Backend("mongodb", lambda: track(MongoStore(_with_database(MONGODB_URI, database))))
    finally:
        for store in opened:
            await store.close()
        client: AsyncMongoClient = AsyncMongoClient(MONGODB_URI)
        try:
            await client.drop_database(database)
        finally:
            await client.close()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()
