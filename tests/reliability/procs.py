"""Processes and sockets that fault tests break on purpose: worker processes (kill -9, SIGSTOP,
SIGCONT), a TCP proxy whose connections can be cut, and retries around a restarting server.

Every process is started here and stopped here by its own PID; ``Processes`` stops whatever is
left in its ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from websockets.exceptions import InvalidHandshake

from livejobs_sdk import Client, ConnectionLost
from tests.servers import ROOT, BaseServer, ProcessServer

T = TypeVar("T")


class WorkerProcess:
    """``tests.reliability.chaos_worker`` in its own process; stdout/stderr go to ``log``."""

    def __init__(
        self,
        url: str,
        token: str,
        job_type: str,
        worker_id: str,
        journal: Path,
        log: Path,
        *,
        concurrency: int = 1,
        lease: float | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.log = log
        self.args = [
            sys.executable,
            "-m",
            "tests.reliability.chaos_worker",
            url,
            token,
            job_type,
            worker_id,
            str(journal),
            "--concurrency",
            str(concurrency),
        ]
        if lease is not None:
            self.args += ["--lease", str(lease)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                cwd=ROOT,
                stdout=out,
                stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    async def kill(self) -> None:
        """kill -9 and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(self.proc.wait, 10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Processes:
    """Remembers every worker process started in a test and kills each by PID at the end."""

    def __init__(self) -> None:
        self.all: list[WorkerProcess] = []

    def start(self, worker: WorkerProcess) -> WorkerProcess:
        self.all.append(worker)
        return worker.start()

    async def stop_all(self) -> None:
        for worker in self.all:
            if worker.proc is not None and worker.proc.poll() is None:
                os.kill(worker.proc.pid, signal.SIGCONT)  # a frozen one must be able to die
            await worker.kill()


@contextlib.asynccontextmanager
async def processes() -> AsyncIterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        await procs.stop_all()


#: what connecting to, or calling, a server that is restarting may raise
RESTARTING = (ConnectionLost, TimeoutError, OSError, InvalidHandshake)


async def retrying(call: Callable[[], Awaitable[T]], *, attempts: int = 50) -> T:
    """Run ``call``, again if the server went away mid-call (a restart is under way).

    Only for idempotent calls, or where the test tolerates "maybe done"."""
    for attempt in range(attempts):
        try:
            return await asyncio.wait_for(call(), 20)
        except RESTARTING:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


async def with_client(server: BaseServer, call: Callable[[Client], Awaitable[T]]) -> T:
    """``call`` on a fresh connection, retried while the server restarts. Drivers use this
    rather than one long-lived client so that they do not depend on the SDK's reconnection,
    which is what the workers under test exercise."""

    async def once() -> T:
        async with server.client(reconnect=False) as client:
            return await call(client)

    return await retrying(once)


class Proxy:
    """A loopback TCP proxy in front of a server port: ``cut()`` drops its connections at once
    (both sides see a reset), as a network fault would. ``hold()`` makes new connections wait
    before reaching the server, as a load balancer does while a server restarts, until
    ``release()``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._open = asyncio.Event()
        self._open.set()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._open.wait(), 30)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except (OSError, TimeoutError):  # the server is down: so is the connection
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self.links.add(link)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.links.discard(link)
            writer.transport.abort()
            up_writer.transport.abort()

    def cut(self) -> int:
        """Reset every connection going through; returns how many there were."""
        links = list(self.links)
        for client_side, server_side in links:
            client_side.transport.abort()
            server_side.transport.abort()
        self.cuts += len(links)
        return len(links)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.cut()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


class Caller:
    """One connection for many calls, opened again (not by the SDK's reconnection) whenever
    the server restarts under it. Calls that were in flight are retried: "maybe done twice"."""

    def __init__(self, server: BaseServer) -> None:
        self.server = server
        self.client: Client | None = None

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        for attempt in range(50):
            try:
                if self.client is None:
                    self.client = await self.server.client(reconnect=False).connect()
                return await self.client.call(method, params, timeout=5)
            except RESTARTING:
                await self.close()
                if attempt == 49:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


def assert_server_healthy(server: ProcessServer) -> None:
    """Still running, and nothing unhandled in its log."""
    assert server.proc is not None and server.proc.poll() is None, "the server died"
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, f"the server logged an unhandled exception:\n{log[-3000:]}"
