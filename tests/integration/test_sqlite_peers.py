"""Several server processes on one SQLite file: each store's feed carries the others' commits.

Two ``SQLiteStore`` instances on one file in one test stand for two processes (each has its own
origin and port); the last test runs a real second process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from livejobs.jobs.model import Job, blank_job
from livejobs.store.base import Change
from livejobs.store.feed import Watcher
from livejobs.store.sqlite import SQLiteStore
from livejobs.store.sqlite import peers as sqlite_peers

ROOT = Path(__file__).resolve().parents[2]
Opener = Callable[[], Awaitable[SQLiteStore]]


def job(**fields: Any) -> Job:
    doc = blank_job("echo", {"n": 1}, owner="ann", now=1000.0)
    doc.update(fields)
    return doc


async def next_change(watcher: Watcher) -> Change:
    return await asyncio.wait_for(anext(watcher), timeout=10)


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A plain connection to the file, in autocommit mode (as another process would write)."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


def peer_rows(path: Path) -> list[tuple[Any, ...]]:
    with raw(path) as conn:
        return conn.execute("SELECT origin, port, pid FROM peers ORDER BY origin").fetchall()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
async def open_store(path: Path) -> AsyncIterator[Opener]:
    opened: list[SQLiteStore] = []

    async def opener() -> SQLiteStore:
        store = SQLiteStore(str(path))
        await store.open()
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


async def test_job_changes_reach_the_other_store(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    feed = b.watch()
    doc = job()
    await a.insert([doc])
    assert await next_change(feed) == Change("insert", doc["id"], doc)
    done = {**doc, "status": "completed", "version": doc["version"] + 1}
    assert await a.replace(done, doc["version"])
    assert await next_change(feed) == Change("update", doc["id"], done)
    assert await a.delete(doc["id"], done["version"])
    assert await next_change(feed) == Change("delete", doc["id"], None)


async def test_record_changes_reach_the_other_store(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    feed = b.watch()
    await a.put_record("setting", "rules", {"v": 1})
    assert await next_change(feed) == Change("record", "setting/rules")
    assert await a.delete_record("setting", "rules")
    assert await next_change(feed) == Change("record", "setting/rules")
    assert await b.get_record("setting", "rules") is None


async def test_each_store_publishes_every_change_once(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    feed_a, feed_b = a.watch(), b.watch()
    mine, theirs, last = job(), job(), job()
    await b.insert([mine])
    await a.insert([theirs])
    await a.insert([last])
    for feed in (feed_a, feed_b):
        seen = [(await next_change(feed)).id for _ in range(3)]
        assert sorted(seen) == sorted([mine["id"], theirs["id"], last["id"]])
    # a last write from each side, heard by the other: nothing was published in between
    await b.put_record("mark", "b", {})
    await a.put_record("mark", "a", {})
    assert {(await next_change(feed_a)).id, (await next_change(feed_a)).id} == {"mark/a", "mark/b"}
    assert {(await next_change(feed_b)).id, (await next_change(feed_b)).id} == {"mark/a", "mark/b"}


async def test_the_same_burst_is_published_once_per_id_with_the_latest_document(
    open_store: Opener,
) -> None:
    a, b = await open_store(), await open_store()
    feed = b.watch()
    docs = [job() for _ in range(50)]
    await asyncio.gather(*(a.insert([d]) for d in docs))
    await a.put_record("mark", "end", {})
    seen: list[Change] = []
    while not seen or seen[-1].id != "mark/end":
        seen.append(await next_change(feed))
    assert [c.doc for c in seen[:-1]] == docs  # once each, in commit order


async def test_a_lone_store_logs_nothing_until_another_joins(
    open_store: Opener, path: Path
) -> None:
    a = await open_store()
    await a.insert([job()])
    await a.put_record("setting", "s", {})

    def logged() -> int:
        with raw(path) as conn:
            return int(conn.execute("SELECT count(*) FROM changes").fetchone()[0])

    assert logged() == 0
    b = await open_store()
    feed = b.watch()
    doc = job()
    await a.insert([doc])
    assert await next_change(feed) == Change("insert", doc["id"], doc)
    assert logged() == 1


async def test_inserted_then_updated_is_published_once_as_an_insert(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    feed = b.watch()
    doc = job()
    done = {**doc, "status": "completed", "version": doc["version"] + 1}
    inserted = a.insert([doc])
    replaced = a.replace(done, doc["version"])  # queued together: one batch, one datagram
    await asyncio.gather(inserted, replaced)
    assert await next_change(feed) == Change("insert", doc["id"], done)
    await a.put_record("mark", "end", {})
    assert await next_change(feed) == Change("record", "mark/end")


async def test_a_closed_store_leaves_and_the_other_keeps_writing(
    open_store: Opener, path: Path
) -> None:
    a, b = await open_store(), await open_store()
    first, second = peer_rows(path)  # a's row, then b's
    await b.close()
    assert peer_rows(path) == [first]
    feed = a.watch()
    doc = job()
    assert await a.insert([doc]) == [doc]
    assert await next_change(feed) == Change("insert", doc["id"], doc)


async def test_stale_peer_rows_are_harmless(open_store: Opener, path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        unreachable = gone.getsockname()[1]
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(ended.stdout)
    with raw(path) as conn:
        conn.executescript(sqlite_peers.SCHEMA)
        conn.executemany(
            "INSERT INTO peers (host, port, pid) VALUES (?, ?, ?)",
            [
                (socket.gethostname(), unreachable, dead_pid),
                (socket.gethostname(), unreachable, os.getpid()),
            ],
        )
    a, b = await open_store(), await open_store()
    pids = [row[2] for row in peer_rows(path)]
    assert dead_pid not in pids  # the dead process's row is gone
    assert pids.count(os.getpid()) == 3  # a live pid's row stays, though its port is closed
    feed = b.watch()
    doc = job()
    assert await a.insert([doc]) == [doc]
    assert await next_change(feed) == Change("insert", doc["id"], doc)


async def test_the_log_is_pruned_and_a_store_behind_it_resets(
    open_store: Opener, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_peers, "KEEP", 5)
    monkeypatch.setattr(sqlite_peers, "PRUNE_EVERY", 4)
    a, b = await open_store(), await open_store()
    feed = b.watch()
    for _ in range(12):  # in step with b: it never falls behind, so it never resets
        doc = job()
        await a.insert([doc])
        assert await next_change(feed) == Change("insert", doc["id"], doc)
    with raw(path) as conn:
        # pruned at the batch after every 4th row logged, down to the last 5
        assert conn.execute("SELECT min(seq), count(*) FROM changes").fetchone() == (4, 9)
        # a writer whose datagrams never came, then a prune past b's cursor
        conn.executemany(
            "INSERT INTO changes (origin, op, id) VALUES (999, 'record', ?)",
            [(f"lost/{n}",) for n in range(10)],
        )
        conn.execute("DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - 5")
    await a.put_record("mark", "after", {})
    assert await next_change(feed) == Change("reset", "")
    await a.put_record("mark", "next", {})  # and from there on, changes as before
    assert await next_change(feed) == Change("record", "mark/next")


async def test_a_write_waits_for_another_process_lock_off_the_loop(
    open_store: Opener, path: Path
) -> None:
    a = await open_store()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        doc = job()
        insert = asyncio.ensure_future(a.insert([doc]))
        for _ in range(10):  # the loop keeps running meanwhile
            await asyncio.sleep(0)
        assert not insert.done()
        holder.execute("COMMIT")
        assert await asyncio.wait_for(insert, timeout=10) == [doc]
    finally:
        holder.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from livejobs.jobs.model import blank_job
    from livejobs.store.sqlite import SQLiteStore

    async def main():
        store = SQLiteStore(sys.argv[1])
        await store.open()
        feed = store.watch()
        print("ready", flush=True)
        heard = await asyncio.wait_for(anext(feed), timeout=20)  # the parent's insert
        doc = blank_job("child", None, owner="ann", now=1.0)
        await store.insert([doc])
        print(heard.id, doc["id"], flush=True)
        await store.close()

    asyncio.run(main())
    """
)


async def test_a_real_second_process(open_store: Opener, path: Path) -> None:
    store = await open_store()
    feed = store.watch()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), timeout=20) == b"ready\n"
        mine = job()
        await store.insert([mine])
        assert await next_change(feed) == Change("insert", mine["id"], mine)  # our own
        heard, theirs = (await asyncio.wait_for(child.stdout.readline(), timeout=20)).split()
        assert heard.decode() == mine["id"]
        change = await next_change(feed)
        assert (change.op, change.id) == ("insert", theirs.decode())
        assert change.doc is not None and change.doc["type"] == "child"
        assert await asyncio.wait_for(child.wait(), timeout=20) == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
