"""A WebSocket that has not authenticated may send only a small message, as an HTTP request
without a token gets no body read.

A message may be up to ``16 × max_frame_bytes`` (16 MiB) so that a client sending a frame
slightly too large gets ``too_large`` rather than a cut socket; the server buffers a message
whole before reading it. Before ``auth``, that let anyone without a token make the server hold
16 MiB per connection for the ``auth_timeout`` (twenty connections: RSS 55 → 376 MB). Until
``auth`` succeeds a message is now limited to 64 KiB; past it the socket is closed with 1009
(message too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import ADMIN_TOKEN, InProcessServer, ProcessServer

CONNECTIONS = 20
MESSAGE = 16 * 2**20 - 64  # just under the largest message an authenticated client may send
GROWTH = 60 * 2**20


async def _almost_send(port: int, size: int) -> asyncio.StreamWriter:
    """Open a WebSocket by hand and send all but the last byte of a ``size``-byte message,
    until the server stops reading or closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    writer.write(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", size) + b"\0\0\0\0")
    chunk, sent = b"a" * 65_536, 0
    with contextlib.suppress(ConnectionError):
        while sent < size - 1:
            writer.write(chunk[: min(len(chunk), size - 1 - sent)])
            sent += len(chunk)
            await asyncio.wait_for(writer.drain(), 2)
    return writer


async def test_connections_without_a_token_cannot_make_the_server_buffer_megabytes(
    tmp_path,
) -> None:
    srv = ProcessServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        assert srv.proc is not None
        server = psutil.Process(srv.proc.pid)
        before = server.memory_info().rss
        attempts = [_almost_send(srv.port, MESSAGE) for _ in range(CONNECTIONS)]
        writers = await asyncio.gather(*attempts, return_exceptions=True)
        grown = server.memory_info().rss - before
        for writer in writers:
            if isinstance(writer, asyncio.StreamWriter):
                writer.close()
        assert grown < GROWTH, f"{CONNECTIONS} sockets without a token held {grown >> 20} MB"
        async with srv.client() as admin:  # and the server still serves
            assert (await admin.call("jobs.create", {"type": "t"}))["type"] == "t"
    finally:
        await srv.stop()


async def test_a_large_first_message_is_refused_with_1009_and_later_ones_are_not(
    server: InProcessServer,
) -> None:
    async with connect(server.ws_url, max_size=None) as ws:
        await ws.send("x" * 100_000)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with connect(server.ws_url, max_size=None) as ws:
        auth = {"msg": "call", "id": 0, "method": "auth", "params": {"token": ADMIN_TOKEN}}
        await ws.send(json.dumps(auth))
        assert "result" in json.loads(await ws.recv())
        data = {"blob": "y" * 200_000}
        create = {"msg": "call", "id": 1, "method": "jobs.create",
                  "params": {"type": "t", "data": data}}  # fmt: skip
        await ws.send(json.dumps(create))
        reply = json.loads(await ws.recv())
        assert reply["result"]["data"] == data
