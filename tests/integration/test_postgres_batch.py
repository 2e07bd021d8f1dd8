"""Group commit in the PostgreSQL store: writes called together share transactions, and each
still gets its own answer (a stale version, a clashing key) as if it had run alone."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest

from livejobs.errors import Conflict
from livejobs.store.base import ClaimRequest
from livejobs.store.postgres import PostgresStore, counts
from livejobs.store.postgres import feed as pg_feed
from tests.integration.test_store_contract import changed, job
from tests.pg import Cluster


@pytest.fixture
async def store(pg_cluster: Cluster) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(pg_cluster.create_database(), pool_size=4)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def commits(store: PostgresStore) -> int:
    """How many transactions appended to the change log so far."""
    conn = await asyncpg.connect(store.url)
    try:
        return int(await conn.fetchval("SELECT count(DISTINCT xmin::text) FROM changes"))
    finally:
        await conn.close()


async def test_writes_called_together_share_commits_and_keep_their_own_answers(
    store: PostgresStore,
) -> None:
    docs = await store.insert([job("b") for _ in range(200)])
    watcher = store.watch()
    before = await commits(store)
    fresh = [store.replace(changed(d, status="completed"), d["version"]) for d in docs[:150]]
    stale = [
        store.replace(changed(changed(d), status="failed"), d["version"] + 1) for d in docs[150:]
    ]
    answers = await asyncio.gather(*fresh, *stale)
    assert answers == [True] * 150 + [False] * 50
    assert await commits(store) - before < 50  # 150 updates in far fewer transactions
    seen: list[str] = []
    while len(seen) < 150:
        seen += [c.id for c in await asyncio.wait_for(watcher.batch(), 10) if c.op == "update"]
    assert sorted(seen) == sorted(d["id"] for d in docs[:150])
    assert await store.count({"status": "completed"}) == 150
    assert await store.count({"status": "ready"}) == 50


async def test_one_clashing_write_fails_alone(store: PostgresStore) -> None:
    holder, other = await store.insert([job("b", key="k"), job("b")])
    plain = await store.insert([job("b") for _ in range(20)])
    clash = store.replace(changed(other, key="k"), other["version"])
    rest = [store.replace(changed(d, status="completed"), d["version"]) for d in plain]
    got = await asyncio.gather(clash, *rest, return_exceptions=True)
    assert isinstance(got[0], Conflict)
    assert got[1:] == [True] * 20
    assert (await store.get(other["id"]) or {}).get("key") is None
    assert (await store.get(holder["id"]) or {}).get("key") == "k"


async def test_two_writes_of_one_job_in_a_batch_apply_in_order(store: PostgresStore) -> None:
    (doc,) = await store.insert([job("b")])
    second, third = changed(doc, status="running"), None
    third = changed(second, status="completed")
    others = await store.insert([job("b") for _ in range(10)])
    writes = [store.replace(changed(d, status="failed"), d["version"]) for d in others]
    got = await asyncio.gather(
        *writes[:5],
        store.replace(second, doc["version"]),
        store.replace(third, second["version"]),
        *writes[5:],
    )
    assert got == [True] * 12
    assert (await store.get(doc["id"]) or {})["status"] == "completed"


async def test_counts_are_kept_in_a_table_and_match_a_scan(store: PostgresStore) -> None:
    docs = await store.insert([job("c", owner=f"u{i % 3}") for i in range(30)])
    docs += await store.insert([job("d") for _ in range(5)])
    await asyncio.gather(
        *(store.replace(changed(d, status="completed"), d["version"]) for d in docs[:10])
    )
    assert await store.delete(docs[-1]["id"], docs[-1]["version"])
    scan = {"type": {"$in": ["c", "d"]}}  # not answered from the table: a scan
    for compacted in (False, True):
        assert await store.count_by("status", {}) == await store.count_by("status", scan)
        assert await store.count_by("owner", {"type": "c"}) == {"u0": 10, "u1": 10, "u2": 10}
        assert await store.count({"type": "c", "status": "completed"}) == 10
        assert await store.count({"type": "d"}) == 4
        if not compacted:
            conn = await asyncpg.connect(store.url)
            try:
                assert await conn.fetchval("SELECT count(*) FROM job_counts") > 5
                await counts.compact(conn)
                assert await conn.fetchval("SELECT count(*) FROM job_counts") == 7  # one per group
            finally:
                await conn.close()


async def test_migration_2_counts_the_jobs_already_stored(pg_cluster: Cluster) -> None:
    url = pg_cluster.create_database()
    first = PostgresStore(url)
    await first.open()
    docs = await first.insert([job("m") for _ in range(7)])
    await first.replace(changed(docs[0], status="completed"), docs[0]["version"])
    await first.close()
    conn = await asyncpg.connect(url)
    try:  # back to schema 1, as a database of the previous livejobs
        await conn.execute(
            "DROP TABLE job_counts; DROP FUNCTION livejobs_count_insert, livejobs_count_delete, "
            "livejobs_count_update CASCADE; UPDATE livejobs_schema SET version = 1"
        )
    finally:
        await conn.close()
    again = PostgresStore(url)
    await again.open()
    try:
        assert await again.count_by("status", {"type": "m"}) == {"ready": 6, "completed": 1}
    finally:
        await again.close()


async def test_migration_3_keeps_the_logged_documents_readable(pg_cluster: Cluster) -> None:
    url = pg_cluster.create_database()
    first = PostgresStore(url)
    await first.open()
    await first.close()
    logged = {"id": "old", "data": {"x": 1.5, "y": [1, "é", None]}, "status": "ready"}
    conn = await asyncpg.connect(url)
    try:  # back to schema 2, its log holding a document as JSONB
        await conn.execute(
            "ALTER TABLE changes ALTER COLUMN doc TYPE jsonb "
            "USING convert_from(doc, 'UTF8')::jsonb; UPDATE livejobs_schema SET version = 2"
        )
        await conn.execute(
            "INSERT INTO changes (op, id, doc) VALUES ('insert', 'old', $1::text::jsonb)",
            json.dumps(logged),
        )
    finally:
        await conn.close()
    again = PostgresStore(url)
    await again.open()
    try:
        feed, follower = again.watch(), again._follower
        assert follower is not None
        follower.snapshot = pg_feed.Snapshot(1, 1)  # as if it had read nothing yet
        new = job("m")
        await again.insert([new])
        got: list[Any] = []
        while len(got) < 2:
            got += await asyncio.wait_for(feed.batch(), 10)
        assert [(c.id, c.doc) for c in got] == [("old", logged), (new["id"], new)]
    finally:
        await again.close()


async def test_the_feed_hands_out_this_servers_documents_without_decoding_them(
    store: PostgresStore, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[bytes] = []
    real = pg_feed._decode
    monkeypatch.setattr(pg_feed, "_decode", lambda raw: decoded.append(raw) or real(raw))
    watcher = store.watch()
    mine = await store.insert([job("w") for _ in range(30)])
    claimed = await store.claim(ClaimRequest(("w",), "w1", "u", time.time(), 60.0, limit=10))
    other = PostgresStore(store.url, pool_size=2)  # a second server on the same database
    await other.open()
    try:
        (theirs,) = await other.insert([job("w")])
    finally:
        await other.close()
    seen: dict[tuple[str, str], Any] = {}
    while ("insert", theirs["id"]) not in seen:
        for change in await asyncio.wait_for(watcher.batch(), 10):
            seen[(change.op, change.id)] = change.doc
    assert all(seen[("insert", d["id"])] is d for d in mine)
    assert all(seen[("update", d["id"])] is d for d in claimed)
    assert seen[("insert", theirs["id"])] == theirs
    assert decoded == [msgspec.json.encode(theirs)]  # only the other server's write
