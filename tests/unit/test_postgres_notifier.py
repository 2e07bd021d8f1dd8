"""The PostgreSQL feed's notifier survives every way asyncpg reports a lost connection: after
a database restart asyncpg raised ``InternalClientError`` ("cannot switch to state 15; another
operation is in progress"), which the notifier did not count as a failure, so its task died
with the error unretrieved and later commits were no longer announced to the other servers."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from livejobs.store.postgres import feed
from livejobs.store.postgres.feed import Notifier


class FakeConnection:
    def __init__(self, fails: BaseException | None) -> None:
        self.fails = fails
        self.sent: list[str] = []
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def get_server_pid(self) -> int:
        return 1

    async def execute(self, query: str) -> None:
        if self.fails is not None:
            raise self.fails
        self.sent.append(query)

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        ConnectionResetError("reset by peer"),
    ],
)
async def test_a_lost_connection_of_any_kind_is_replaced(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "RECONNECT_DELAY", 0.0)
    connections = [FakeConnection(error), FakeConnection(None)]
    handed: list[FakeConnection] = []

    async def connect() -> Any:
        handed.append(connections[len(handed)])
        return handed[-1]

    notifier = Notifier(connect)
    notifier.notify()
    assert notifier._task is not None
    await asyncio.wait_for(notifier._task, 5)  # raises if the task died of the error
    assert handed == connections and connections[0].closed
    assert connections[1].sent == [f"NOTIFY {feed.CHANNEL}"]
    await notifier.close()
