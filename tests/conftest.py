from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from livejobs.clock import ManualClock
from tests.pg import Cluster, External
from tests.servers import InProcessServer, ProcessServer


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_started_processes() -> None:
    """A suite started as a background job (``make test &``, nohup) starts with SIGINT
    ignored, and a process it starts inherits that: a Flask or Django app stopped with Ctrl-C
    would run on. Python's handler is what a terminal gives, and a process inherits it as the
    default action. (Tests that set the handler leave it as they found it:
    ``test_in_process_server_signals``.)"""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the whole session (``create_database`` per test),
    started on first use and stopped at the end; or, with ``LIVEJOBS_TEST_POSTGRES_URL`` (a
    superuser's URL, as in CI), databases on that server."""
    external = os.environ.get("LIVEJOBS_TEST_POSTGRES_URL")
    if external:
        yield External(external)  # type: ignore[misc]
        return
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


async def _running(srv: InProcessServer | ProcessServer) -> AsyncIterator[Any]:
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[InProcessServer]:
    """A real uvicorn server in this event loop on a temp SQLite file."""
    async for srv in _running(InProcessServer(tmp_path / "jobs.db")):
        yield srv


@pytest.fixture
async def clocked_server(tmp_path) -> AsyncIterator[InProcessServer]:
    """Like ``server``, with a ManualClock the test moves (``livejobs.clock.advance(s)``)."""
    async for srv in _running(InProcessServer(tmp_path / "jobs.db", clock=ManualClock())):
        yield srv


@pytest.fixture
async def live_server(tmp_path) -> AsyncIterator[ProcessServer]:
    """``livejobs serve`` as a separate process (kill it, restart it)."""
    async for srv in _running(ProcessServer(tmp_path / "jobs.db")):
        yield srv


@pytest.fixture
def sync_server(tmp_path) -> Iterator[ProcessServer]:
    """``livejobs serve`` as a process, started and stopped from the test's own thread: for
    sync tests, whose thread has no event loop."""
    srv = ProcessServer(tmp_path / "jobs.db")
    asyncio.run(srv.start())
    try:
        yield srv
    finally:
        asyncio.run(srv.stop())
