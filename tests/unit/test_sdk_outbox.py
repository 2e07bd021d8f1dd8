"""The SDK's outbox: calls made in one turn of the event loop leave as one message, and calls
that fail with the connection never reach the next one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from livejobs_sdk.connection import Connection
from livejobs_sdk.errors import ConnectionLost


class RecordingSocket:
    """Stands in for the WebSocket: keeps what was sent, answers each call with its method."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sent: list[Any] = []

    async def send(self, message: str) -> None:
        decoded = json.loads(message)
        self.sent.append(decoded)
        for frame in decoded if isinstance(decoded, list) else [decoded]:
            self.conn.calls.receive_frame(
                {"msg": "result", "id": frame["id"], "result": frame["method"]}
            )


def connected() -> tuple[Connection, RecordingSocket]:
    conn = Connection("ws://unused", "token")
    socket = RecordingSocket(conn)
    conn._ws = socket  # type: ignore[assignment]
    conn._connected.set()
    return conn, socket


async def test_calls_of_one_turn_leave_as_one_array_message() -> None:
    conn, socket = connected()
    results = await asyncio.gather(conn.call("a"), conn.call("b", {"x": 1}), conn.call("c"))
    assert results == ["a", "b", "c"]
    assert len(socket.sent) == 1
    assert [frame["method"] for frame in socket.sent[0]] == ["a", "b", "c"]
    assert socket.sent[0][1]["params"] == {"x": 1}


async def test_a_lone_call_leaves_as_a_plain_frame() -> None:
    conn, socket = connected()
    assert await conn.call("a") == "a"
    assert await conn.call("b") == "b"
    assert [message["method"] for message in socket.sent] == ["a", "b"]


async def test_calls_failed_by_a_lost_connection_are_never_sent() -> None:
    conn, socket = connected()
    calls = [asyncio.ensure_future(conn.call(m)) for m in ("a", "b")]
    await asyncio.sleep(0)  # both are in the outbox, not yet sent
    conn._fail_pending()  # what the reader does when the socket drops
    for call in calls:
        with pytest.raises(ConnectionLost):
            await call
    assert socket.sent == []


async def test_many_calls_are_split_within_the_servers_limits() -> None:
    conn, socket = connected()
    conn.slots.resize(5_000)  # a server that allows this many calls in flight
    results = await asyncio.gather(*(conn.call("m", {"i": i}) for i in range(1_200)))
    assert len(results) == 1_200
    assert [len(message) for message in socket.sent] == [500, 500, 200]
    big = "x" * 200_000
    await asyncio.gather(*(conn.call("big", {"data": big}) for _ in range(3)))
    assert all(not isinstance(message, list) for message in socket.sent[3:])
    assert len(socket.sent) == 6


class SlowSocket(RecordingSocket):
    """Answers nothing until told to: the calls stay in flight."""

    async def send(self, message: str) -> None:
        decoded = json.loads(message)
        self.sent.extend(decoded if isinstance(decoded, list) else [decoded])


async def test_calls_in_flight_stay_within_the_servers_max_pending_calls() -> None:
    conn = Connection("ws://unused", "token")
    socket = SlowSocket(conn)
    conn._ws = socket  # type: ignore[assignment]
    conn._connected.set()
    conn.slots.resize(40)  # as an auth reply with "max_pending_calls": 40 does; 10 for leases
    calls = [asyncio.ensure_future(conn.call("jobs.create", {"i": i})) for i in range(100)]
    beat = asyncio.ensure_future(conn.call("jobs.heartbeat", {"id": "j", "lease": "t"}))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(socket.sent) == 31  # 30 ordinary calls, and the heartbeat in a slot of its own
    while not all(call.done() for call in calls):
        for frame in list(socket.sent):
            socket.sent.remove(frame)
            conn.calls.receive_frame(
                {"msg": "result", "id": frame["id"], "result": frame["method"]}
            )
            assert len(conn.calls.pending) <= 40
        await asyncio.sleep(0)
    assert [call.result() for call in calls] == ["jobs.create"] * 100
    assert await beat == "jobs.heartbeat"
