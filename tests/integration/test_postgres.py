"""What the store contract cannot reach on PostgreSQL: two stores on one database standing for
two servers (each with its own pool and feed connection), the feed surviving a lost LISTEN
connection, and the schema version kept in the database."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest

from livejobs.errors import StoreRefused, Unavailable
from livejobs.query import matches
from livejobs.store import open_store, pending_migrations
from livejobs.store.base import Change, CreateRequest
from livejobs.store.postgres import PostgresStore
from livejobs.store.postgres import feed as pg_feed
from livejobs.store.postgres.migrations import MIGRATIONS
from tests.integration.test_store_contract import RULES, claim_request, job, set_rules
from tests.pg import Cluster


@pytest.fixture
def url(pg_cluster: Cluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture
async def two(url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    one, other = PostgresStore(url, pool_size=6), PostgresStore(url, pool_size=6)
    await asyncio.gather(one.open(), other.open())  # migrating at once: one migrates
    try:
        yield one, other
    finally:
        await one.close()
        await other.close()


async def changes(feed: object, n: int) -> list[Change]:
    got: list[Change] = []
    while len(got) < n:
        got += await asyncio.wait_for(feed.batch(), 10)  # type: ignore[attr-defined]
    return got


async def test_open_store_picks_postgres_for_its_urls(url: str) -> None:
    assert isinstance(open_store(url), PostgresStore)
    assert isinstance(open_store(url.replace("postgresql://", "postgres://")), PostgresStore)


def test_without_the_driver_a_postgres_url_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith("livejobs.store.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(StoreRefused, match=r"pip install 'livejobs\[postgres\]'"):
        open_store("postgresql://127.0.0.1/x")
    with pytest.raises(StoreRefused, match=r"pip install 'livejobs\[postgres\]'"):
        asyncio.run(pending_migrations("postgres://127.0.0.1/x"))


async def test_two_stores_claiming_at_once_never_hand_out_one_job_twice(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = two
    await one.insert([job("race") for _ in range(200)])
    claims = [
        store.claim(claim_request("race", worker=f"w{i}", limit=3))
        for i in range(40)
        for store in (one, other)
    ]
    claimed = [doc["id"] for batch in await asyncio.gather(*claims) for doc in batch]
    assert len(claimed) == 200 and len(set(claimed)) == 200
    assert await other.count({"status": "running"}) == 200


async def test_concurrency_rules_hold_between_two_stores_under_load(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = two
    await one.insert([job("slow") for _ in range(50)])
    await set_rules(other, "slow", concurrency=5)
    claims = [
        store.claim(claim_request("slow", worker=f"w{i}", limit=2, rules=RULES))
        for i in range(20)
        for store in (one, other)
    ]
    claimed = [doc for batch in await asyncio.gather(*claims) for doc in batch]
    assert Counter(doc["type"] for doc in claimed) == {"slow": 5}


async def test_one_request_sent_through_two_stores_at_once_makes_one_job(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    """An attempt that waited for the request's lock reads the answer the other attempt
    committed meanwhile: the lock and the lookup are one call, the lookup's snapshot taken
    after the lock."""
    one, other = two
    for n in range(20):
        attempts = [
            store.insert([job(data=i)], CreateRequest("ann", f"r-{n}", 100.0, 160.0))
            for i in range(3)
            for store in (one, other)
        ]
        answers = await asyncio.gather(*attempts)
        assert len({answer[0]["id"] for answer in answers}) == 1, answers
    assert await one.count({}) == 20


async def test_a_change_committed_by_one_store_reaches_the_others_feed(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = two
    theirs, mine = other.watch(), one.watch()
    a = job()
    await one.insert([a])
    await one.put_record("types", "echo", {"type": "echo", "paused": True})
    for feed in (theirs, mine):  # the same changes, in the same order, on both servers
        got = await changes(feed, 2)
        assert [(c.op, c.id) for c in got] == [("insert", a["id"]), ("record", "types/echo")]
        assert got[0].doc == a


async def test_the_feed_resumes_after_its_listen_connection_is_killed(
    two: tuple[PostgresStore, PostgresStore], url: str
) -> None:
    one, other = two
    feed = other.watch()
    follower = other._follower
    assert follower is not None and follower._conn is not None
    pid = follower._conn.get_server_pid()
    admin = await asyncpg.connect(url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        jobs = [job() for _ in range(5)]
        for doc in jobs:  # committed while the feed reconnects, and after
            await one.insert([doc])
        got = await changes(feed, 5)
        assert [c.id for c in got] == [doc["id"] for doc in jobs]
        assert follower._conn.get_server_pid() != pid
    finally:
        await admin.close()


async def test_a_feed_behind_a_trimmed_log_publishes_a_reset(
    two: tuple[PostgresStore, PostgresStore], url: str
) -> None:
    one, other = two
    feed = other.watch()
    await one.insert([job()])
    await changes(feed, 1)
    admin = await asyncpg.connect(url)
    try:  # as if this server lagged a change behind and the log were trimmed past it
        follower = other._follower
        assert follower is not None
        await admin.execute(
            "WITH gone AS (DELETE FROM changes RETURNING xid) "
            "UPDATE changes_trimmed SET upto_xid = (SELECT max(xid) FROM gone)"
        )
        follower.snapshot = pg_feed.Snapshot(1, 1)  # as if it had read nothing yet
        later = job()
        await one.insert([later])
        got = await changes(feed, 2)
        assert got[0] == pg_feed.RESET and got[1].id == later["id"]
    finally:
        await admin.close()


async def test_trimming_drops_old_changes_only(two: tuple[PostgresStore, PostgresStore]) -> None:
    one, _ = two
    await one.insert([job()])
    pool = one._pool
    async with pool.acquire() as conn:
        await pg_feed.trim(conn, keep_seconds=3600)
        assert await conn.fetchval("SELECT count(*) FROM changes") == 1
        await pg_feed.trim(conn, keep_seconds=0)
        assert await conn.fetchval("SELECT count(*) FROM changes") == 0
        assert await conn.fetchval("SELECT upto FROM changes_trimmed") > 0
        assert await conn.fetchval("SELECT upto_xid::text::int8 FROM changes_trimmed") > 0


async def test_a_database_of_a_newer_livejobs_is_refused(url: str) -> None:
    store = PostgresStore(url)
    await store.open()
    await store.close()
    newest = MIGRATIONS[-1].version
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("UPDATE livejobs_schema SET version = $1", newest + 1)
    finally:
        await admin.close()
    with pytest.raises(StoreRefused) as refused:
        await PostgresStore(url).open()
    message = refused.value.message
    assert f"schema version {newest + 1}" in message and f"up to {newest}" in message
    assert "Upgrade livejobs" in message


async def test_an_unreachable_database_is_refused_clearly(pg_cluster: Cluster) -> None:
    from tests.servers import free_port

    with pytest.raises(StoreRefused, match="cannot open the PostgreSQL database") as refused:
        await PostgresStore(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/x").open()
    assert "secret" not in refused.value.message  # the password stays out of messages


async def test_a_change_committed_late_with_a_lower_seq_is_not_skipped(
    two: tuple[PostgresStore, PostgresStore], url: str
) -> None:
    """A bigserial is handed out before the commit, so a later write may commit a higher seq
    first: the appends do not wait for each other, and a reader following snapshots still
    reads the lower one when it commits (here with no NOTIFY at all: the reader saw a
    transaction in progress, so it reads again by itself)."""
    one, other = two
    feed = other.watch()
    admin = await asyncpg.connect(url)
    try:
        slow = admin.transaction()
        await slow.start()
        await admin.execute("INSERT INTO changes (op, id) VALUES ('record', 'slow/first')")
        await asyncio.wait_for(one.put_record("fast", "second", {}), 5)  # no wait for slow
        assert [c.id for c in await changes(feed, 1)] == ["fast/second"]
        await slow.commit()
        assert [c.id for c in await changes(feed, 1)] == ["slow/first"]
    finally:
        await admin.close()


async def test_a_non_canonical_numeric_segment_reads_object_keys_only(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    one, _ = two
    docs = [job(data={"a": {"01": 1}, "b": [5, 6]}), job(data={"b": {"01": 6}})]
    await one.insert(docs)
    for filter in ({"data.a.01": 1}, {"data.b.01": 6}, {"data.b.1": 6}, {"data.b.01": None}):
        expected = [d["id"] for d in docs if matches(d, filter)]
        assert [d["id"] for d in await one.find(filter)] == expected, filter


# the connection dies at the append of a change to the job with id 'doomed', as when the
# database restarts between a write's statements and its append
DIE_AT_APPEND = """
CREATE FUNCTION die_at_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM appended WHERE id = 'doomed') THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER die_at_append AFTER INSERT ON changes REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION die_at_append();
"""


async def test_a_write_whose_append_is_lost_is_not_committed_either(
    two: tuple[PostgresStore, PostgresStore], url: str
) -> None:
    """A job committed without its row in the log reaches no other server's feed: the write
    and its append are one transaction, so a connection lost between them loses both."""
    one, other = two
    feed = other.watch()
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(DIE_AT_APPEND)
        doomed = job()
        doomed["id"] = "doomed"
        with pytest.raises(Unavailable):
            await one.insert([doomed])
        after = job()
        await one.insert([after])
        assert [c.id for c in await changes(feed, 1)] == [after["id"]]
        assert await other.get("doomed") is None  # the write went with its append
        unlogged = "SELECT count(*) FROM jobs WHERE id NOT IN (SELECT id FROM changes)"
        assert await admin.fetchval(unlogged) == 0
    finally:
        await admin.close()


async def test_changes_are_appended_only_inside_the_transaction_that_made_them(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await pg_feed.append(conn, [Change("record", "kinds/one", None)])
    finally:
        await conn.close()
