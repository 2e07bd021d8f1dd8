"""Search (``{"$search": ...}``) on SQLite and PostgreSQL: by id prefix, by a value in
``data``, by error text and by log text, also after an update adds a log line; answered from
the store's text index (the query plan says so), and agreeing with the live matcher."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from livejobs.errors import Invalid
from livejobs.jobs.model import Job, blank_job
from livejobs.query import matches, parse_filter
from livejobs.store.base import Store
from tests.pg import Cluster


def jobs() -> list[Job]:
    docs = [
        blank_job("t", {"i": i, "who": f"user{i}"}, owner="u", now=1000.0 + i) for i in range(300)
    ]
    docs[7]["data"] = {"customer": {"name": "Acme-Widgets"}, "order": 99173}
    docs[8]["status"] = "failed"
    docs[8]["failures"] = [{"error": {"type": "ZeroDivisionError", "message": "division by zero"}}]
    docs[8]["reason"] = "ZeroDivisionError: division by zero"
    docs[9]["log"] = [
        {"message": "charging card ending 4242", "level": "info", "kind": "log"},
        {"message": "cancelled by mallory", "kind": "audit"},
    ]
    docs[11]["data"] = {"ref": "2e312bcdb3"}  # PostgreSQL's text parser reads 2e312, then bcdb3
    return docs


QUERIES = {
    "acme widg": 7,
    "99173": 7,
    "zerodivision": 8,
    "division zero": 8,
    "4242": 9,
    "2e312bcdb3": 11,
    "2e312b": 11,
}


async def check_store(store: Store) -> list[Job]:
    docs = jobs()
    await store.insert(docs)
    for query, index in QUERIES.items():
        found = await store.find({"$search": query})
        assert [d["id"] for d in found] == [docs[index]["id"]], query
        assert matches(docs[index], parse_filter({"$search": query}))
    prefix = docs[8]["id"][:-3]
    assert docs[8]["id"] in [d["id"] for d in await store.find({"$search": prefix})]
    shown = docs[8]["id"][-10:]  # the dashboard shows the id's last ten characters
    assert [d["id"] for d in await store.find({"$search": shown})] == [docs[8]["id"]]
    # a log line added later is found; a removed job is not
    updated = {
        **docs[10],
        "log": [{"message": "refund issued"}],
        "version": docs[10]["version"] + 1,
    }
    assert await store.replace(updated, docs[10]["version"])
    assert [d["id"] for d in await store.find({"$search": "refund"})] == [docs[10]["id"]]
    assert await store.find({"$search": "mallory"}) == []  # the audit trail is not searched
    assert await store.delete(docs[9]["id"], docs[9]["version"])
    assert await store.find({"$search": "4242"}) == []
    return docs


async def test_sqlite_search(tmp_path: Path) -> None:
    from livejobs.store.sqlite import SQLiteStore
    from livejobs.store.sqlite.sql import where

    store = SQLiteStore(str(tmp_path / "jobs.db"))
    await store.open()
    try:
        await check_store(store)
    finally:
        await store.close()
    params: list[Any] = []
    sql = f"SELECT doc FROM jobs WHERE {where({'$search': 'zero'}, params)}"
    conn = sqlite3.connect(tmp_path / "jobs.db")
    try:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()
    assert any("VIRTUAL TABLE INDEX" in step for step in plan), plan
    assert not any(step == "SCAN jobs" for step in plan), plan


async def test_postgres_search(pg_cluster: Cluster) -> None:
    from livejobs.store.postgres import PostgresStore
    from livejobs.store.postgres.sql import Params, where

    store = PostgresStore(pg_cluster.create_database(), pool_size=2)
    await store.open()
    try:
        await check_store(store)
        async with store._pool.acquire() as conn:
            await conn.execute("ANALYZE jobs")
            await conn.execute("SET enable_seqscan = off")  # a small table: ask what it can use
            params = Params()
            sql = f"SELECT doc FROM jobs WHERE {where({'$search': 'zero'}, params)}"
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *params))
        assert "Bitmap Index Scan on job_words_search" in plan, plan
    finally:
        await store.close()


@pytest.mark.parametrize("bad", ["", "  -- ", "x" * 201, 5, "a b c d e f g h i"])
def test_search_refuses_bad_queries(bad: Any) -> None:
    with pytest.raises(Invalid):
        parse_filter({"$search": bad})


def _raw(path: Path, sql: str) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_a_lone_create_is_searchable_at_once_from_every_process(tmp_path: Path) -> None:
    """A small batch leaves its jobs to the index's next pass (its rows wait in the file);
    a ``$search`` on any store of the file runs that pass first, and a closing store runs it
    last, so no job is ever missing from a search."""
    from livejobs.store.sqlite import SQLiteStore

    path = tmp_path / "jobs.db"
    first, second = SQLiteStore(str(path)), SQLiteStore(str(path))
    await first.open()
    await second.open()
    try:
        lone = blank_job("t", {"order": "A-77121"}, owner="u", now=1000.0)
        await first.insert([lone])
        assert first._search_pass is not None
        first._search_pass.cancel()  # as if the process died before its pass
        first._search_pass = None
        assert _raw(path, "SELECT count(*) FROM jobs_search_pending") == [(1,)]
        found = await second.find({"$search": "a-77121"})  # the other process's read
        assert [d["id"] for d in found] == [lone["id"]]
        assert _raw(path, "SELECT count(*) FROM jobs_search_pending") == [(0,)]
        assert await first.count({"$or": [{"$search": "77121"}, {"type": "none"}]}) == 1

        later = blank_job("t", {"order": "B-5"}, owner="u", now=1001.0)
        await first.insert([later])
        assert await first.delete(lone["id"], lone["version"])  # its pending row goes too
    finally:
        await first.close()  # the pass that was due runs last
        await second.close()
    assert _raw(path, "SELECT count(*) FROM jobs_search_pending") == [(0,)]
    assert _raw(path, "SELECT count(*) FROM jobs_search WHERE jobs_search MATCH 'b'") == [(1,)]
    assert _raw(path, "SELECT count(*) FROM jobs_search") == [(1,)]


async def test_postgres_keeps_words_apart_and_writes_them_when_they_change(
    pg_cluster: Cluster,
) -> None:
    """Words live in ``job_words`` (migration 8): a claim and a change that leaves the words
    alone do not rewrite the job's row there, an added reason does; a word longer than any
    query is cut yet found by its start; a deleted job's words go with it."""
    from livejobs.store.base import ClaimRequest
    from livejobs.store.postgres import PostgresStore

    store = PostgresStore(pg_cluster.create_database(), pool_size=2)
    await store.open()
    try:
        job = blank_job("t", {"order": "Q-1234"}, owner="u", now=1000.0)
        await store.insert([job])

        async def words_row() -> Any:
            async with store._pool.acquire() as conn:
                sql = "SELECT xmin::text, words::text FROM job_words WHERE id = $1"
                return await conn.fetchrow(sql, job["id"])

        written = await words_row()
        assert written is not None
        request = ClaimRequest(("t",), "w1", "u", now=1001.0, lease_seconds=30.0)
        [claimed] = await store.claim(request)
        assert await words_row() == written  # the claim left the words alone
        touched = {**claimed, "progress": {"completed": 1, "total": 2, "percent": 50.0}}
        touched["version"] += 1
        assert await store.replace(touched, claimed["version"], previous=claimed)
        assert await words_row() == written
        failed = {**touched, "reason": "LedgerMismatch: totals differ", "version": 4}
        assert await store.replace(failed, touched["version"], previous=touched)
        assert [d["id"] for d in await store.find({"$search": "ledgermis"})] == [job["id"]]

        long_word = "x" * 3000
        logged = {**failed, "log": [{"message": f"{long_word} tail"}], "version": 5}
        assert await store.replace(logged, failed["version"])  # no previous: words written
        for query in ("x" * 200, "tail", "q 1234"):
            assert [d["id"] for d in await store.find({"$search": query})] == [job["id"]]
        assert await store.delete(job["id"], logged["version"])
        assert await words_row() is None
    finally:
        await store.close()


async def test_postgres_jobs_stored_before_migration_8_are_found(pg_cluster: Cluster) -> None:
    """A database at schema 7 (words in an index on the document) gets every job's words
    when a server of migration 8 opens it."""
    from livejobs.store.postgres import PostgresStore
    from livejobs.store.postgres.migrations import SCHEMA_WINDOWS

    url = pg_cluster.create_database()
    store = PostgresStore(url, pool_size=2)
    await store.open()
    docs = jobs()
    try:
        await store.insert(docs)
        async with store._pool.acquire() as conn:  # back to schema 7, jobs kept
            await conn.execute(
                "DROP TABLE job_words; DROP FUNCTION livejobs_words_delete() CASCADE; "
                "UPDATE livejobs_schema SET version = 7"
            )
            await conn.execute(SCHEMA_WINDOWS)
    finally:
        await store.close()
    store = PostgresStore(url, pool_size=2)
    await store.open()
    try:
        for query, index in QUERIES.items():
            found = await store.find({"$search": query})
            assert [d["id"] for d in found] == [docs[index]["id"]], query
        async with store._pool.acquire() as conn:
            indexes = {r[0] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
        assert "job_words_search" in indexes and "jobs_search" not in indexes
    finally:
        await store.close()
