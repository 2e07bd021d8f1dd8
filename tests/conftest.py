from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.clock import ManualClock
from tests.servers import InProcessServer, ProcessServer


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[InProcessServer]:
    """A real uvicorn server in this event loop on a temp SQLite file."""
    srv = InProcessServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def clocked_server(tmp_path) -> AsyncIterator[InProcessServer]:
    """Like ``server``, with a ManualClock the test moves (``server.clock.advance(s)``)."""
    srv = InProcessServer(tmp_path / "jobs.db", clock=ManualClock())
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def live_server(tmp_path) -> AsyncIterator[ProcessServer]:
    """``livejobs serve`` as a separate process (kill it, restart it)."""
    srv = ProcessServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
