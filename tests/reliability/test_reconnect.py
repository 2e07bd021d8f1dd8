"""The SDK's reconnection when the server's port misbehaves during a restart.

A server killed with SIGKILL can accept a connection into its backlog in the instant before
its listening socket goes away, and then close it without a word; a proxy in front of a
restarting server answers 503. Either way the WebSocket handshake fails with
``websockets.exceptions.InvalidHandshake`` rather than ``OSError``, and the client must treat it
like any other failed attempt: wait, try again, and be back once the server is.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.servers import ProcessServer

REPLIES = {
    # what the port says to a reconnecting client while the server is away
    "closed without a reply": b"",
    "503 from a proxy": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
}

# Regression (fixed): worker_sdk/connection.py Connection._reconnect retries only on OSError,
# ConnectionClosed, TimeoutError and LivejobsError; websockets' InvalidHandshake (InvalidMessage,
# InvalidStatus) escapes, ends the connection's runner task, and the client never reconnects:
# every later call times out and a worker takes no more jobs


@pytest.mark.parametrize("reply", list(REPLIES))
async def test_client_reconnects_after_a_failed_handshake(tmp_path, reply):
    server = ProcessServer(tmp_path / "jobs.db")
    await server.start()
    try:
        async with server.client() as client:
            job = await client.job("before").save()
            await server.kill()
            attempted = asyncio.Event()

            async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                attempted.set()
                if REPLIES[reply]:
                    await reader.readuntil(b"\r\n\r\n")
                    writer.write(REPLIES[reply])
                writer.close()

            stub = await asyncio.start_server(refuse, "127.0.0.1", server.port)
            try:
                await asyncio.wait_for(attempted.wait(), 10)
            finally:
                stub.close()
                await stub.wait_closed()
            await server.start()
            assert (await client.call("jobs.get", {"id": job.id}, timeout=8))["type"] == "before"
    finally:
        await server.stop()
