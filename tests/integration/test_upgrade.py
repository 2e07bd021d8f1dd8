"""Upgrading a store written by release 0.1.0 (tests/fixtures/make_v0_1_0.py made it), and
refusing one written by a newer livejobs."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from livejobs.clock import ManualClock
from livejobs.errors import StoreRefused
from livejobs.store.migrations import Migration
from livejobs.store.sqlite import SQLiteStore
from livejobs.store.sqlite import migrations as sqlite_migrations
from livejobs.store.sqlite.migrations import NEWEST
from tests.servers import ROOT, InProcessServer, free_port

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "livejobs-0.1.0.json").read_text())
JOBS: dict[str, str] = MANIFEST["jobs"]
TOKENS: dict[str, str] = MANIFEST["tokens"]


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.db"
    shutil.copyfile(FIXTURES / "livejobs-0.1.0.db", path)
    return path


def raw_docs(path: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        return {i: json.loads(doc) for i, doc in conn.execute("SELECT id, doc FROM jobs")}


def schema_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def livejobs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livejobs.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_0_1_0_store_opens_with_every_job_user_and_token_intact(old_db: Path) -> None:
    before = raw_docs(old_db)
    assert schema_version(old_db) == 0  # 0.1.0 recorded none
    # the server wakes a second after the fixture was written, whatever today's date: its
    # leases and delays are as they were (a real clock would see them lapse as months pass)
    written = max(doc["updated"] for doc in before.values())
    srv = InProcessServer(old_db, clock=ManualClock(written + 1))
    await srv.start()
    try:
        store = srv.services.store
        for job_id, doc in before.items():
            assert await store.get(job_id) == doc
        statuses = {name: before[job_id]["status"] for name, job_id in JOBS.items()}
        assert set(statuses.values()) == {
            "ready", "waiting", "running", "completed", "failed", "cancelled"
        }  # fmt: skip
        await _check_tokens_and_users(srv)
        await _check_the_jobs_work_on(srv, before)
    finally:
        await srv.stop()
    assert schema_version(old_db) == NEWEST


async def _check_tokens_and_users(srv: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        for name in ("alice", "wendy"):
            answer = await http.get("/api/jobs", headers=_bearer(TOKENS[name]))
            assert answer.status_code == 200, answer.text
        refused = await http.get("/api/jobs", headers=_bearer(TOKENS["revoked"]))
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthenticated"
    async with srv.client() as admin:
        users = {u["name"]: u["role"] for u in await admin.call("users.list")}
        assert users["alice"] == "creator" and users["wendy"] == "worker"
        assert len(await admin.call("tokens.list", {"user": "alice"})) == 2
        [rules] = [t for t in await admin.call("types.list") if t["type"] == "fixture.work"]
        assert rules["paused"] and rules["concurrency"] == 4 and rules["rate_limit"] == 100


async def _check_the_jobs_work_on(srv: InProcessServer, before: dict[str, Any]) -> None:
    async with srv.client(TOKENS["alice"]) as alice:
        found = await alice.call("jobs.find", {"filter": {}, "limit": 100})
        assert sorted(doc["id"] for doc in found) == sorted(JOBS.values())
        # the key of the 0.1.0 job still holds (now scoped to alice): the same job comes back
        again = await alice.call("jobs.create", {"type": "fixture.work", "key": "nightly-report"})
        assert again["id"] == JOBS["keyed"] and again["key"] == "nightly-report"
    running = before[JOBS["to_run"]]
    async with srv.client(TOKENS["wendy"]) as wendy:
        lease = running["lease"]["token"]
        await wendy.call("jobs.done", {"id": running["id"], "lease": lease, "result": 1})
    assert (await srv.services.store.get(running["id"]))["status"] == "completed"


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_store_of_a_newer_livejobs_is_refused_with_both_versions(old_db: Path) -> None:
    with sqlite3.connect(old_db) as conn:
        conn.execute(f"PRAGMA user_version = {NEWEST + 1}")
    before = raw_docs(old_db)
    store = SQLiteStore(str(old_db))
    with pytest.raises(StoreRefused) as refused:
        await store.open()
    message = refused.value.message
    assert f"schema version {NEWEST + 1}" in message and f"up to {NEWEST}" in message
    assert "Upgrade livejobs" in message
    assert schema_version(old_db) == NEWEST + 1 and raw_docs(old_db) == before
    checked = livejobs("migrate", "--db", str(old_db), "--check")
    assert checked.returncode == 1 and "Upgrade livejobs" in checked.stderr
    served = livejobs("serve", "--db", str(old_db), "--port", str(free_port()))
    assert served.returncode == 1 and "Upgrade livejobs" in served.stderr
    assert "Traceback" not in served.stderr


def test_two_servers_opening_one_0_1_0_file_at_once_migrate_it_once(old_db: Path) -> None:
    barrier = threading.Barrier(2)

    def open_and_migrate() -> list[Migration]:
        conn = sqlite3.connect(old_db, isolation_level=None, timeout=10)
        try:
            barrier.wait()
            return sqlite_migrations.migrate(conn, "the test database")
        finally:
            conn.close()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: open_and_migrate(), range(2)))
    assert sorted(len(applied) for applied in results) == [0, NEWEST]
    assert schema_version(old_db) == NEWEST


def test_livejobs_migrate_checks_then_applies(old_db: Path) -> None:
    unchanged = digest(old_db)
    checked = livejobs("migrate", "--db", str(old_db), "--check")
    assert checked.returncode == 1, checked.stderr
    assert f"{NEWEST} migration(s) pending" in checked.stdout
    assert "1: the 0.1.0 schema" in checked.stdout
    assert digest(old_db) == unchanged and schema_version(old_db) == 0
    assert not old_db.with_name("jobs.db-wal").exists()

    applied = livejobs("migrate", "--db", str(old_db))
    assert applied.returncode == 0, applied.stderr
    assert f"applied {NEWEST} migration(s)" in applied.stdout
    assert schema_version(old_db) == NEWEST

    again = livejobs("migrate", "--db", str(old_db), "--check")
    assert again.returncode == 0 and "up to date" in again.stdout
