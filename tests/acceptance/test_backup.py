"""``livejobs backup`` and ``livejobs restore`` as an operator runs them: the installed command
against real server processes that keep writing, judged by what a restored server holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livejobs import backup as backups
from tests.servers import ROOT, ProcessServer

LIVEJOBS = Path(sys.executable).with_name("livejobs")
#: jobs acknowledged before the backup starts (and the producer keeps creating more)
BEFORE = 300


async def livejobs(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``livejobs ARGS``, in a thread so that this loop keeps producing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEJOBS_")}
    return await asyncio.to_thread(
        subprocess.run,
        [str(LIVEJOBS), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


@contextlib.asynccontextmanager
async def running(server: ProcessServer) -> AsyncIterator[ProcessServer]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Producer:
    """Creates jobs through the SDK without pause; ``acked`` holds every id the server
    acknowledged, in order."""

    def __init__(self, server: ProcessServer) -> None:
        self.server = server
        self.acked: list[str] = []
        self.enough = asyncio.Event()
        self._stop = False

    async def run(self) -> None:
        async with self.server.client() as client:
            batch = 0
            while not self._stop:
                batch += 1
                if batch % 2:
                    self.acked.append((await client.job("backup-test", batch).save()).id)
                else:
                    jobs = [("backup-test", {"batch": batch, "n": n}) for n in range(10)]
                    self.acked.extend(await client.create_many(jobs))
                if len(self.acked) >= BEFORE:
                    self.enough.set()

    def stop(self) -> None:
        self._stop = True


async def all_ids(server: ProcessServer) -> set[str]:
    found: set[str] = set()
    async with server.client() as client:
        while True:
            page = await client.find({"type": "backup-test"}, limit=1000, skip=len(found))
            found.update(doc["id"] for doc in page)
            if len(page) < 1000:
                return found


async def test_backup_while_writing_keeps_every_acknowledged_job(tmp_path):
    server = ProcessServer(tmp_path / "live.db")
    copy = tmp_path / "copy.db"
    async with running(server):
        producer = Producer(server)
        producing = asyncio.create_task(producer.run())
        try:
            await asyncio.wait_for(producer.enough.wait(), 20)
            before = list(producer.acked)  # acknowledged before the command starts
            made = await livejobs("backup", str(copy), "--db", str(server.db_path))
            during = len(producer.acked) - len(before)
        finally:
            producer.stop()
            await producing
    assert made.returncode == 0, made.stderr
    assert during > 0, "the producer should have kept writing while the backup ran"
    assert made.stdout.startswith("backed up "), made.stdout
    reported = int(made.stdout.split()[2].replace(",", ""))
    assert len(before) <= reported <= len(producer.acked)

    # one self-contained, sound file: no -wal beside it, and not in WAL mode
    assert not Path(f"{copy}-wal").exists() and not Path(f"{copy}-shm").exists()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # it holds token hashes
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)

    restored = tmp_path / "restored" / "jobs.db"
    restored.parent.mkdir()
    put = await livejobs("restore", str(copy), "--db", str(restored))
    assert put.returncode == 0, put.stderr
    assert f"restored {reported:,} jobs to {restored}" in put.stdout
    async with running(ProcessServer(restored)) as again:
        found = await all_ids(again)
    assert set(before) <= found
    assert len(found) == reported
    assert found <= set(producer.acked)  # nothing but what the live server had acknowledged


async def test_restore_is_refused_while_a_server_runs_on_the_target(tmp_path):
    source = ProcessServer(tmp_path / "source.db")
    async with running(source):
        async with source.client() as client:
            kept = (await client.job("backup-test", "kept").save()).id
        made = await livejobs("backup", str(tmp_path / "copy.db"), "--db", str(source.db_path))
        assert made.returncode == 0, made.stderr

    target = ProcessServer(tmp_path / "target.db")
    async with running(target):
        async with target.client() as client:
            own = (await client.job("backup-test", "own").save()).id
        assert target.proc is not None
        put = await livejobs("restore", str(tmp_path / "copy.db"), "--db", str(target.db_path))
        refused(put, "exists", "--force")
        put = await livejobs(
            "restore", str(tmp_path / "copy.db"), "--db", str(target.db_path), "--force"
        )
        refused(put, "in use", f"pid {target.proc.pid}")
        assert await all_ids(target) == {own}  # the running server's database is untouched
        assert not list(tmp_path.glob(".target.db.*"))  # no half-made copy left beside it

    # stopped: the same restore goes through, and a server on it finds the backup's jobs
    target.db_path.chmod(0o640)
    put = await livejobs(
        "restore", str(tmp_path / "copy.db"), "--db", str(target.db_path), "--force"
    )
    assert put.returncode == 0, put.stderr
    assert not Path(f"{target.db_path}-wal").exists()
    assert stat.S_IMODE(target.db_path.stat().st_mode) == 0o640  # the replaced file's mode
    async with running(target):
        assert await all_ids(target) == {kept}


async def test_a_backup_does_not_carry_the_live_servers_registration(tmp_path):
    """The live file lists its running servers in ``peers``; the copy must not, or a restore
    onto a copy would be refused for as long as the original's servers run."""
    source = ProcessServer(tmp_path / "source.db")
    copy, target = tmp_path / "copy.db", tmp_path / "target.db"
    async with running(source):
        made = await livejobs("backup", str(copy), "--db", str(source.db_path))
        assert made.returncode == 0, made.stderr
        with contextlib.closing(sqlite3.connect(copy)) as conn:
            assert conn.execute("SELECT count(*) FROM peers").fetchone() == (0,)
        for _ in range(2):  # the second replaces the first while the source's server runs
            put = await livejobs("restore", str(copy), "--db", str(target), "--force")
            assert put.returncode == 0, put.stderr


async def test_backup_refuses_to_overwrite_unless_forced(tmp_path):
    server = ProcessServer(tmp_path / "live.db")
    existing = tmp_path / "copy.db"
    existing.write_bytes(b"an earlier backup")
    async with running(server):
        made = await livejobs("backup", str(existing), "--db", str(server.db_path))
        refused(made, "exists", "--force")
        assert existing.read_bytes() == b"an earlier backup"
    # a store no server has open: the copy leaves no -wal or -shm beside it
    made = await livejobs("backup", str(existing), "--db", str(server.db_path), "--force")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("backed up 0 jobs")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy.db", "live.db", "live.log"]
    with contextlib.closing(sqlite3.connect(existing)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


async def test_backup_of_a_missing_or_non_sqlite_store_is_refused(tmp_path):
    missing, copy = tmp_path / "missing.db", tmp_path / "copy.db"
    refused(await livejobs("backup", str(copy), "--db", str(missing)), "no SQLite database")
    assert not missing.exists() and not copy.exists()  # no empty database was created
    assert list(tmp_path.iterdir()) == []
    made = await livejobs("backup", str(copy), "--db", "mongodb://localhost:27017/livejobs")
    refused(made, "for SQLite", "mongodump", "docs/operations.md")
    put = await livejobs("restore", str(copy), "--db", "mongodb://localhost:27017/livejobs")
    refused(put, "for SQLite", "mongorestore")
    made = await livejobs("backup", str(copy), "--db", "postgresql://localhost/livejobs")
    refused(made, "for SQLite", "for PostgreSQL use pg_dump")
    put = await livejobs("restore", str(copy), "--db", "postgresql://localhost/livejobs")
    refused(put, "for SQLite", "pg_restore")


async def test_restore_checks_the_backup_first(tmp_path):
    bad, target = tmp_path / "bad.db", tmp_path / "jobs.db"
    with contextlib.closing(sqlite3.connect(bad)) as conn:
        conn.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, doc TEXT)")
        conn.executemany(
            "INSERT INTO jobs VALUES (?, ?)", [(f"{n:08}", "x" * 500) for n in range(400)]
        )
        conn.commit()
    with open(bad, "r+b") as fh:  # scribble over a page in the middle of the table
        fh.seek(4096 * 20)
        fh.write(b"\xff" * 4096)
    refused(await livejobs("restore", str(bad), "--db", str(target)), "bad.db")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.db"]


def test_the_copy_finishes_in_steps_while_another_connection_commits(tmp_path, monkeypatch):
    """Between every two steps of the copy another connection commits. Without the snapshot the
    copy holds, SQLite would restart it from page one each time and it would never finish."""
    live = tmp_path / "live.db"
    writer = sqlite3.connect(live, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, doc TEXT)")
    writer.executemany("INSERT INTO jobs (doc) VALUES (?)", [("x" * 400,) for _ in range(1000)])
    monkeypatch.setattr(backups, "PAGES_PER_STEP", 10)
    steps: list[tuple[int, int]] = []

    def commit_between_steps(done: int, total: int) -> None:
        steps.append((done, total))
        if len(steps) > 10 * total:
            pytest.fail("the copy keeps restarting")
        committed = threading.Thread(
            target=writer.execute, args=("INSERT INTO jobs (doc) VALUES ('later')",)
        )
        committed.start()
        committed.join(5)  # another thread, another connection: a commit the copy must not see

    copied = backups.backup(str(live), str(tmp_path / "copy.db"), progress=commit_between_steps)
    writer.close()
    assert len(steps) > 5 and steps[-1][0] == steps[-1][1]
    assert copied.jobs == 1000  # as the copy's snapshot saw it, none of the later rows
    with contextlib.closing(sqlite3.connect(live)) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (1000 + len(steps),)
