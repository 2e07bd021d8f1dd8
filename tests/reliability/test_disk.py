"""Disk trouble: the database lives on a small tmpfs that fills up. Writes then fail with a
clear ``unavailable`` error (WebSocket and HTTP), reads keep working, nothing acknowledged is
lost, nothing refused was half-saved, and once space returns writes succeed again, also after
a kill -9 and restart.

Mounting needs root (tests run as root here); elsewhere the test is skipped with the reason.
A read-only directory is not tried: it stops neither root nor an already open SQLite file.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livejobs_sdk import CallError, Client
from tests.reliability.procs import WorkerProcess, processes
from tests.reliability.test_durability import find_all
from tests.servers import ADMIN_TOKEN, ProcessServer

DISK = "6m"
PAYLOAD = "x" * 16_000  # per job, so that the disk fills in a few hundred writes
MAX_WRITES = 2000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def fill(path: Path) -> None:
    """Write until the file system says it is full."""
    chunk = b"\0" * 65536
    # unbuffered: a buffered file would keep what a full disk refused and raise it again at
    # close, whenever the space left is not a whole number of chunks
    with open(path, "wb", buffering=0) as out:
        for _ in range(10_000):  # far more than the disk holds
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return
    raise AssertionError("the disk never filled")


async def write(client: Client, n: int, acked: set[int]) -> CallError | None:
    try:
        await client.job("disk", {"n": n, "pad": PAYLOAD}).save()
    except CallError as exc:
        return exc
    acked.add(n)
    return None


async def test_a_full_disk_refuses_writes_clearly_and_loses_nothing(small_disk, tmp_path):
    server = ProcessServer(small_disk / "jobs.db")
    server.log_path = tmp_path / "livejobs.log"  # not on the disk that fills
    acked: set[int] = set()
    await server.start()
    try:
        async with server.client(reconnect=False) as client:
            for n in range(20):
                assert await write(client, n, acked) is None
            fill(small_disk / "filler")
            refused: CallError | None = None
            n = 20
            for n in range(20, 20 + MAX_WRITES):
                refused = await write(client, n, acked)
                if refused is not None:
                    break
            assert refused is not None, f"{MAX_WRITES} writes fit on a full disk"
            assert refused.code == "unavailable", refused
            assert "full" in refused.message and "nothing" in refused.message, refused.message
            await http_write_is_refused(server)
            # reads still work, and so does the connection
            assert len(await find_all(client, {"type": "disk"})) == len(acked)
            os.remove(small_disk / "filler")
            assert await write(client, n + 1, acked) is None, "no recovery once space returned"
            for m in range(n + 2, n + 12):
                assert await write(client, m, acked) is None
        await server.kill()
        await server.start()
        async with server.client(reconnect=False) as client:
            stored = {d["data"]["n"] for d in await find_all(client, {"type": "disk"})}
        assert stored == acked, (
            f"lost: {sorted(acked - stored)[:10]}, "
            f"saved though refused: {sorted(stored - acked)[:10]}"
        )
    finally:
        await server.stop()


async def http_write_is_refused(server: ProcessServer) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body: dict[str, Any] = {"type": "disk", "data": {"n": -1, "pad": PAYLOAD}}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        response = await http.post("/api/jobs", json=body)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "unavailable"


async def wait_for_line(path: Path, needle: str, timeout: float = 15) -> None:
    """A log line from another process: nothing to await, so a bounded look every 20 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while needle not in (path.read_text(errors="replace") if path.exists() else ""):
        if loop.time() > deadline:
            raise TimeoutError(f"{needle!r} not in {path}")
        await asyncio.sleep(0.02)


async def wait_completed(client: Client, job_type: str, n: int, timeout: float) -> None:
    async with client.subscribe({"type": job_type, "status": "completed"}) as sub:

        async def until() -> None:
            while len(sub.docs) < n:
                await sub.next()

        await asyncio.wait_for(until(), timeout)


async def test_jobs_running_when_the_disk_fills_finish_once_space_returns(small_disk, tmp_path):
    """Completions that cannot be saved leave jobs running; their leases expire, and once
    space is back the scheduler's retry puts them back and the workers finish them."""
    server = ProcessServer(small_disk / "jobs.db", "--lease", "2")
    server.log_path = tmp_path / "livejobs.log"
    await server.start()
    try:
        async with processes() as procs, server.client(reconnect=False) as client:
            ids = await client.create_many(
                [
                    {"type": "disk-run", "data": {"ms": 1500}, "retry": {"retries": 3}}
                    for _ in range(4)
                ]
            )
            procs.start(
                WorkerProcess(
                    server.ws_url,
                    ADMIN_TOKEN,
                    "disk-run",
                    "w",
                    tmp_path / "journal",
                    tmp_path / "w.out",
                    concurrency=4,
                )
            )
            async with client.subscribe({"type": "disk-run", "status": "running"}) as sub:
                await asyncio.wait_for(_until(lambda: len(sub.docs) == 4, sub), 15)
            fill(small_disk / "filler")  # while all four run: their completions will fail
            worker_out = tmp_path / "w.out"
            await wait_for_line(worker_out, "could not report jobs.done")
            await wait_for_line(server.log_path, "scheduler pass failed")  # the lease expired
            os.remove(small_disk / "filler")
            await wait_completed(client, "disk-run", 4, timeout=20)
            docs = [await client.get_job(i) for i in ids]
        assert all(d["attempts"] >= 2 for d in docs), [d["attempts"] for d in docs]
        assert all(d["failures"][0]["error"] == "lease expired: worker lost" for d in docs)
    finally:
        await server.stop()


# Regression (fixed): server/runtime/dispatch.py Dispatcher._feed: when the claim itself fails
# (here: disk full) it sets worker.seen as if the worker had been told there is no work, so the
# worker waits for the next job to become ready; if none does, ready jobs and idle workers stay
# apart for good after the disk recovers. A failed claim should be retried (with a backoff)
# instead of being taken for an empty queue


async def test_ready_jobs_reach_a_worker_whose_claim_failed_on_a_full_disk(small_disk, tmp_path):
    server = ProcessServer(small_disk / "jobs.db")
    server.log_path = tmp_path / "livejobs.log"
    await server.start()
    try:
        async with processes() as procs, server.client(reconnect=False) as client:
            await client.create_many([("disk-claim", {"ms": 1}) for _ in range(5)])
            fill(small_disk / "filler")
            procs.start(
                WorkerProcess(
                    server.ws_url,
                    ADMIN_TOKEN,
                    "disk-claim",
                    "w",
                    tmp_path / "journal",
                    tmp_path / "w.out",
                )
            )
            await wait_for_line(server.log_path, "claim for worker admin/w failed")
            os.remove(small_disk / "filler")
            await wait_completed(client, "disk-claim", 5, timeout=10)
            counts = await client.counts({"type": "disk-claim"})
            assert counts["status"] == {"completed": 5}
    finally:
        await server.stop()


async def _until(predicate: Any, sub: Any) -> None:
    while not predicate():
        await sub.next()
