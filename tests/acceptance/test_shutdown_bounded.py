"""A stop takes at most the grace plus ``SHUTDOWN_MARGIN``, whatever the peers do: here two
servers on one SQLite file get SIGTERM together while each has a job that never ends, a client
that never answers the WebSocket close and an HTTP request whose body never comes. On the old
code uvicorn then waited its own 10 s for that request past the grace."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time

from livejobs.shutdown import SHUTDOWN_MARGIN
from tests.acceptance.test_shutdown import wait_running
from tests.helpers import running_worker
from tests.servers import ProcessServer

GRACE = 2.0
#: a process's own start of exit (interpreter teardown) on a busy machine
SLACK = 1.5


async def silent_peer(port: int) -> asyncio.StreamWriter:
    """A WebSocket that completes its handshake, then neither reads nor answers anything."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return writer


async def stalled_request(port: int) -> asyncio.StreamWriter:
    """An HTTP request that announces a body and sends only part of it."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"type": '
    )
    await writer.drain()
    return writer


async def exited_after(proc: subprocess.Popen[bytes], since: float) -> float:
    await asyncio.to_thread(proc.wait, 60)
    return time.monotonic() - since


async def test_two_servers_on_one_file_stop_within_the_grace_together(tmp_path):
    servers = [
        ProcessServer(tmp_path / "jobs.db", "--shutdown-grace", str(GRACE)) for _ in range(2)
    ]
    for server in servers:
        await server.start()
    peers: list[asyncio.StreamWriter] = []

    async def forever(job):
        await asyncio.Event().wait()

    try:
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(server.client(reconnect=False))
                for server in servers
            ]
            for n, client in enumerate(clients):
                await stack.enter_async_context(running_worker(client, f"t{n}", forever))
                await client.job(f"t{n}").save()
                await wait_running(client, f"t{n}", 1)
                peers.append(await silent_peer(servers[n].port))
                peers.append(await stalled_request(servers[n].port))
            procs = [server.proc for server in servers]
            assert procs[0] is not None and procs[1] is not None
            since = time.monotonic()
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            took = await asyncio.gather(*(exited_after(p, since) for p in procs))
    finally:
        for peer in peers:
            peer.transport.abort()
        for server in servers:
            await server.stop()
    assert max(took) < GRACE + SHUTDOWN_MARGIN + SLACK, took
    logs = [server.log_path.read_text() for server in servers]
    # uvicorn re-raises the signal once it has stopped; the watchdog would have exited 1
    assert [p.returncode for p in procs] == [-signal.SIGTERM] * 2, logs
    assert all("Traceback" not in log for log in logs), logs
    print(took)
