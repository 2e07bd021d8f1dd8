"""Migration 8 on PostgreSQL fills ``job_words`` for the jobs stored before it with the words
the server itself writes (``search.lexemes``), whatever the database's locale: a job stored at
schema 7 is found by the same ``$search`` as one written after the migration.

The test cluster runs with ``--no-locale`` (LC_CTYPE=C), where SQL's ``[[:alnum:]]`` and
``lower()`` know ASCII letters only; many Docker images run the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from livejobs import search
from livejobs.jobs.model import Job, blank_job
from livejobs.store.postgres import PostgresStore, connections, migrations, sql
from tests.pg import Cluster

SCHEMA_7 = 7


def stored_before() -> list[Job]:
    """Jobs a server of schema 7 stored: non-ASCII words in every field search reads."""
    docs = [blank_job("t", {"i": i}, owner="u", now=1000.0 + i) for i in range(23)]
    docs[0]["data"] = {"customer": "ÄRGER Łódź Café ΑΒΓ", "order": 99173, "ratio": 1e-07}
    docs[1]["reason"] = "Überweisung: Zahlung fehlgeschlagen"
    docs[1]["failures"] = [{"error": {"type": "ÉchecTotal", "message": "straße gesperrt"}}]
    docs[1]["status"] = "failed"
    docs[2]["log"] = [
        {"message": "Ünïcödé Ωmega kraków", "level": "info", "kind": "log"},
        {"message": "ΚΡΥΦΟ by mallory", "kind": "audit"},  # the audit trail is not searched
    ]
    docs[3]["data"] = {"blob": "Πολύ " + "x" * 300, "short": "naïve"}  # past MAX_DATA_VALUE
    return docs


QUERIES = {
    "ärger": 0,
    "ÄRGER": 0,
    "łódź": 0,
    "caf": 0,
    "café": 0,
    "αβγ": 0,
    "99173": 0,
    "überweis": 1,
    "échectotal": 1,
    "straße": 1,
    "ünïcödé ωmega": 2,
    "krak": 2,
    "naïve": 3,
}
NOT_FOUND = ("κρυφο", "πολύ", "mallory")


async def at_schema_7(url: str, docs: list[Job], monkeypatch: pytest.MonkeyPatch) -> None:
    """A database migrated to schema 7 (before ``job_words``) holding ``docs``, written as a
    server of that schema wrote them (a row in ``jobs``, nothing else)."""
    conn = await asyncpg.connect(url)
    try:
        await connections.init(conn)
        with monkeypatch.context() as patched:
            patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:SCHEMA_7])
            await migrations.migrate(conn, "the test database")
        assert await migrations.recorded(conn) == SCHEMA_7
        for doc in docs:
            assert await conn.fetchval(sql.INSERT, *sql.row(doc)) == doc["id"]
    finally:
        await conn.close()


@pytest.fixture
async def migrated(
    pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[PostgresStore, list[Job]]]:
    """The schema 7 database opened by this server (which migrates it), and its jobs; the
    backfill reads a few jobs at a time, so that it takes several batches."""
    monkeypatch.setattr(migrations, "BACKFILL_BATCH", 5, raising=False)
    url = pg_cluster.create_database()
    docs = stored_before()
    await at_schema_7(url, docs, monkeypatch)
    store = PostgresStore(url, pool_size=2)
    await store.open()
    try:
        yield store, docs
    finally:
        await store.close()


async def test_jobs_stored_before_migration_8_are_found_by_non_ascii_words(
    migrated: tuple[PostgresStore, list[Job]],
) -> None:
    store, docs = migrated
    for query, index in QUERIES.items():
        found = await store.find({"$search": query})
        assert [d["id"] for d in found] == [docs[index]["id"]], query
    for query in NOT_FOUND:
        assert await store.find({"$search": query}) == [], query


async def test_migration_8_writes_the_words_the_server_writes(
    migrated: tuple[PostgresStore, list[Job]],
) -> None:
    """Each job's row in ``job_words`` holds ``search.lexemes`` of the job as stored (a number
    as JSONB gives it back), as a write of that job by the server would."""
    store, docs = migrated
    stored = await store.find({})
    assert len(stored) == len(docs)
    async with store._pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, tsvector_to_array(words) AS w FROM job_words")
    assert {r["id"]: sorted(r["w"]) for r in rows} == {
        d["id"]: sorted(search.lexemes(d)) for d in stored
    }
