"""Servers for the fuzzing tests: one per module, or one per test when it must stay apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ProcessServer


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    server = ProcessServer(tmp_path_factory.mktemp("fuzz") / "jobs.db")
    asyncio.run(server.start())
    try:
        yield server
    finally:
        asyncio.run(server.stop())


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ProcessServer]:
    """A server of its own, for a test that makes it log a traceback."""
    server = ProcessServer(tmp_path / "jobs.db")
    asyncio.run(server.start())
    try:
        yield server
    finally:
        asyncio.run(server.stop())
