"""Security issue 20, item 6: a subscriber that never reads is cut once its outbox holds more
than ``max_outbox_bytes``, with a close reason saying so, instead of making the server queue
every change for it (RSS 57 → 629 MB after 1,000 changes when the cap counted frames).
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import ADMIN_TOKEN, ProcessServer

CHANGES = 1200
DATA = "x" * 100_000  # 100 KB per change: 120 MB in all
CAP = 4 * 1024 * 1024
GROWTH = 60 * 1024 * 1024


@pytest.fixture
async def capped_server(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEJOBS_MAX_OUTBOX_BYTES", str(CAP))
    srv = ProcessServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _feed_changes_seen(srv: ProcessServer) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{srv.http_url}/metrics")).text
    found = re.search(r'livejobs_feed_changes_total\{op="insert"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def _until_feed_caught_up(srv: ProcessServer, count: int) -> None:
    deadline = time.monotonic() + 30
    while await _feed_changes_seen(srv) < count:
        assert time.monotonic() < deadline, "the server never read its own changes"
        await asyncio.sleep(0.05)


async def test_a_subscriber_that_never_reads_is_cut_and_memory_stays_bounded(
    capped_server: ProcessServer,
) -> None:
    assert capped_server.proc is not None
    server = psutil.Process(capped_server.proc.pid)
    # max_queue=1: once one message waits unread, the client stops reading its socket
    async with connect(capped_server.ws_url, max_queue=1, max_size=None) as sleeper:
        await sleeper.send(json.dumps({"msg": "call", "id": 1, "method": "auth",
                                       "params": {"token": ADMIN_TOKEN}}))  # fmt: skip
        assert json.loads(await sleeper.recv())["id"] == 1
        await sleeper.send(json.dumps({"msg": "call", "id": 2, "method": "subscribe",
                                       "params": {"filter": {"type": "big"}}}))  # fmt: skip
        before = server.memory_info().rss
        async with capped_server.client() as admin:
            for start in range(0, CHANGES, 50):
                await asyncio.gather(
                    *(
                        admin.call("jobs.create", {"type": "big", "data": DATA, "delay": 3600})
                        for _ in range(start, min(start + 50, CHANGES))
                    )
                )
        await _until_feed_caught_up(capped_server, CHANGES)
        grown = server.memory_info().rss - before
        assert grown < GROWTH, f"the server grew {grown >> 20} MB for one client that never reads"
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # read what the kernel buffered, then the close frame
                await asyncio.wait_for(sleeper.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.reason.startswith("too slow: over 4194304 bytes")


async def _subscriptions_open(srv: ProcessServer) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{srv.http_url}/metrics")).text
    found = re.search(r"^livejobs_subscriptions (\S+)", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


SNAPSHOT_JOBS = 150  # 100 KB each: 15 MB a snapshot
SUBSCRIPTIONS = 30


async def test_a_connection_that_never_reads_holds_one_snapshot_not_one_per_subscription(
    capped_server: ProcessServer,
) -> None:
    """Each subscription's snapshot read every matching job, then waited for the client to
    read; thirty subscriptions of a client that reads nothing held thirty copies of the jobs
    (15 MB of data: RSS +450 MB). A connection's snapshots now go one after another."""
    assert capped_server.proc is not None
    server = psutil.Process(capped_server.proc.pid)
    async with capped_server.client() as admin:
        for _ in range(SNAPSHOT_JOBS):
            await admin.call("jobs.create", {"type": "big", "data": DATA, "delay": 3600})
    async with connect(capped_server.ws_url, max_queue=1, max_size=None) as sleeper:
        await sleeper.send(json.dumps({"msg": "call", "id": 0, "method": "auth",
                                       "params": {"token": ADMIN_TOKEN}}))  # fmt: skip
        assert json.loads(await sleeper.recv())["id"] == 0
        before = server.memory_info().rss
        for n in range(1, SUBSCRIPTIONS + 1):  # distinct filters: no snapshot is shared
            params = {"filter": {"type": "big", "priority": {"$ne": n}}}
            await sleeper.send(json.dumps({"msg": "call", "id": n, "method": "subscribe",
                                           "params": params}))  # fmt: skip
        deadline = time.monotonic() + 30
        while await _subscriptions_open(capped_server) < SUBSCRIPTIONS:
            assert time.monotonic() < deadline, "the subscriptions never opened"
            await asyncio.sleep(0.05)
        async with capped_server.client() as admin:  # reads queued after every snapshot's
            await admin.find({"type": "big"}, limit=1)
            await admin.find({"type": "big"}, limit=1)
        grown = server.memory_info().rss - before
        assert grown < GROWTH, f"the server grew {grown >> 20} MB for one client that never reads"
