"""Real servers for tests: uvicorn in this event loop (with a drivable clock), or a separate
process (for kill -9 and restarts). Both on a free loopback port with a temp SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import uvicorn

from livejobs.app import create_app
from livejobs.clock import Clock
from livejobs.edges.wire import uvicorn_options
from livejobs.settings import Settings
from livejobs.state import state_of
from livejobs_sdk import Client
from tests.ports import free_port

ADMIN_TOKEN = "lj_testadmin_0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


class BaseServer:
    port: int
    db_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    admin_token = ADMIN_TOKEN

    def client(self, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> Client:
        return Client(self.ws_url, token=token, **kwargs)

    async def token(self, role: str, name: str, types: list[str] | None = None) -> str:
        """A user with ``role`` (created if needed) and a fresh token for it."""
        async with self.client() as admin:
            users = {u["name"] for u in await admin.call("users.list")}
            if name not in users:
                params: dict[str, Any] = {"name": name, "role": role}
                if types:
                    params["types"] = types
                await admin.call("users.add", params)
            return str((await admin.call("tokens.create", {"user": name}))["token"])


class _SignalFreeServer(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM handlers: the test stops it, and a server that
    took the process's handlers would hand back, when stopped, the ones it found, so that
    servers stopped out of order leave Ctrl-C bound to a stopped server (pytest no longer
    stops) and a background run's ignored SIGINT comes back for the processes tests start."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class InProcessServer(BaseServer):
    """uvicorn serving ``create_app`` as a task of the test's own event loop."""

    #: more uvicorn options, over those ``livejobs serve`` uses (e.g. its stock ``ws``)
    uvicorn: ClassVar[dict[str, Any]] = {}

    def __init__(self, db_path: Path, clock: Clock | None = None, **settings: Any) -> None:
        self.db_path = db_path
        self.port = free_port()
        self.clock = clock or Clock()
        self.settings = Settings(
            db=str(db_path), port=self.port, admin_token=ADMIN_TOKEN, **settings
        )
        self.app = create_app(self.settings, clock=self.clock)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def services(self) -> Any:
        return state_of(self.app).services

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **{**uvicorn_options(self.settings), **self.uvicorn},
        )
        self._server = _SignalFreeServer(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 15)
            self._server = None

    async def settle(self) -> None:
        """Let the change feed, dispatcher and timer react to what just happened."""
        for _ in range(20):
            await asyncio.sleep(0)


class ProcessServer(BaseServer):
    """``livejobs serve`` in its own process: kill it, restart it on the same file and port."""

    def __init__(self, db_path: Path, *extra_args: str, port: int | None = None) -> None:
        self.db_path = db_path
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = db_path.with_suffix(".log")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "livejobs.cli",
            "serve",
            "--db",
            str(self.db_path),
            "--port",
            str(self.port),
            "--admin-token",
            ADMIN_TOKEN,
            "--log-level",
            "warning",
            *self.extra_args,
        ]

    async def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        await wait_for_port(self.port, self.proc)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
        self.proc = None

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@contextlib.asynccontextmanager
async def started(*servers: BaseServer) -> AsyncIterator[tuple[Any, ...]]:
    """Start ``servers`` in order and stop them in reverse, however the block ends."""
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            await server.start()
            stack.push_async_callback(server.stop)
        yield servers


async def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20
) -> None:
    """A new process is up when its port accepts connections (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on port {port}") from None
            await asyncio.sleep(0.02)
