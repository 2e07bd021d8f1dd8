"""Live frames written by the edge as whole WebSocket frames (``livejobs.edges.wire``) reach
every subscriber complete and in order, batching or not; and where the edge cannot write
frames itself (compression agreed, uvicorn's stock protocol) the same frames arrive as text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from livejobs.edges import wire
from tests.servers import ADMIN_TOKEN, InProcessServer

SUBSCRIBERS = 12
JOBS = 120


class StockServer(InProcessServer):
    """uvicorn's own ``websockets`` protocol: no ``livejobs.frame`` extension."""

    uvicorn = {"ws": "websockets-sansio"}


async def subscribed(url: str, batch: bool, compression: str | None) -> ClientConnection:
    ws = await connect(url, compression=compression, max_size=None, proxy=None)
    await ws.send(json.dumps({"msg": "call", "id": 1, "method": "auth",
                              "params": {"token": ADMIN_TOKEN, "batch": batch}}))  # fmt: skip
    assert json.loads(await ws.recv())["id"] == 1
    await ws.send(json.dumps({"msg": "call", "id": 2, "method": "subscribe",
                              "params": {"filter": {"type": "fan"}}}))  # fmt: skip
    for message in await frames_until(ws, lambda f: f.get("msg") == "ready"):
        assert message.get("id", 2) == 2
    return ws


async def frames_until(ws: ClientConnection, last: Any) -> list[dict[str, Any]]:
    """Frames (batched messages unpacked) up to the first for which ``last`` is true."""
    got: list[dict[str, Any]] = []
    while not got or not last(got[-1]):
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        got.extend(message if isinstance(message, list) else [message])
    return got


async def produce_and_collect(srv: InProcessServer, subscribers: list[ClientConnection]) -> None:
    async with srv.client() as admin:
        ids: list[str] = []
        for start in range(0, JOBS, 10):  # several commits, several runs
            jobs = [{"type": "fan", "data": {"n": n}} for n in range(start, start + 10)]
            ids += (await admin.call("jobs.create_many", {"jobs": jobs}))["ids"]
    for ws in subscribers:
        frames = await frames_until(ws, lambda f: f.get("doc", {}).get("id") == ids[-1])
        assert [(f["msg"], f["doc"]["id"]) for f in frames] == [("added", i) for i in ids]
        assert [f["doc"]["data"]["n"] for f in frames] == list(range(JOBS))
        assert len({f["sub"] for f in frames}) == 1


@pytest.fixture
def framed(monkeypatch) -> list[int]:
    """How many messages holding subscription frames the edge framed itself."""
    count = [0]
    real = wire.message

    def counted(frames: Any) -> bytes:
        framed = real(frames)
        count[0] += b'"sub":' in framed
        return framed

    monkeypatch.setattr(wire, "message", counted)
    return count


@pytest.fixture
async def stock_server(tmp_path) -> AsyncIterator[InProcessServer]:
    srv = StockServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def compressing_server(tmp_path) -> AsyncIterator[InProcessServer]:
    srv = InProcessServer(tmp_path / "jobs.db", ws_compression=True)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def test_every_subscriber_gets_every_change_in_order_batching_or_not(server, framed):
    subscribers = [
        await subscribed(server.ws_url, batch=n % 3 != 0, compression=None)
        for n in range(SUBSCRIBERS)
    ]
    try:
        await produce_and_collect(server, subscribers)
        assert framed[0] >= SUBSCRIBERS * 2  # at least the ready and one change each
    finally:
        for ws in subscribers:
            await ws.close()


async def test_with_compression_agreed_frames_go_as_compressed_text(compressing_server, framed):
    subscribers = [await subscribed(compressing_server.ws_url, batch=True, compression="deflate")]
    try:
        assert subscribers[0].protocol.extensions  # deflate was agreed
        await produce_and_collect(compressing_server, subscribers)
        assert framed[0] == 0
    finally:
        for ws in subscribers:
            await ws.close()


async def test_on_uvicorns_stock_protocol_frames_go_as_text(stock_server, framed):
    subscribers = [await subscribed(stock_server.ws_url, batch=True, compression=None)]
    try:
        await produce_and_collect(stock_server, subscribers)
        assert framed[0] == 0
    finally:
        for ws in subscribers:
            await ws.close()
