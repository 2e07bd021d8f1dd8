"""The SDK's retry-safe calls: a create carries a fresh request id, and a create or read whose
reply was lost with the connection is sent again, with the same request id, once the
connection is back; other calls fail with ``ConnectionLost`` as before. A call made while the
connection is down waits for it, up to its deadline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from livejobs_sdk import connection
from livejobs_sdk.connection import Connection
from livejobs_sdk.errors import ConnectionLost


class FlakySocket:
    """Stands in for the WebSocket: records each call; the first ``drop`` sends are lost with
    the connection (as when a server dies before answering), the others are answered."""

    def __init__(self, conn: Connection, drop: int = 0) -> None:
        self.conn = conn
        self.drop = drop
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: str) -> None:
        decoded = json.loads(message)
        frames = decoded if isinstance(decoded, list) else [decoded]
        self.sent.extend(frames)
        if self.drop:
            self.drop -= 1
            self.conn._connected.clear()  # what the reader does when the socket drops
            self.conn._fail_pending()
            return
        for frame in frames:
            result = {"method": frame["method"], "params": frame["params"]}
            self.conn.calls.receive_frame({"msg": "result", "id": frame["id"], "result": result})


def connected(drop: int = 0) -> tuple[Connection, FlakySocket]:
    conn = Connection("ws://unused", "token", call_timeout=5)
    conn.identity = {"user": "u", "protocol": 1}  # a server that knows request ids
    socket = FlakySocket(conn, drop)
    conn._ws = socket  # type: ignore[assignment]
    conn._connected.set()
    return conn, socket


def reconnect_soon(conn: Connection) -> None:
    """The connection comes back once the calls waiting for it are waiting."""
    asyncio.get_running_loop().call_soon(conn._connected.set)


async def test_every_create_carries_its_own_request_id() -> None:
    conn, socket = connected()
    spec = {"type": "t"}
    await conn.call("jobs.create", spec)
    await conn.call("jobs.create", spec)
    await conn.call("jobs.create_many", {"jobs": [spec]})
    ids = [frame["params"]["request_id"] for frame in socket.sent]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    assert spec == {"type": "t"}  # the caller's params are not touched
    await conn.call("jobs.get", {"id": "x"})
    assert "request_id" not in socket.sent[-1]["params"]


async def test_a_create_whose_reply_was_lost_is_sent_again_with_its_request_id() -> None:
    conn, socket = connected(drop=1)
    call = asyncio.ensure_future(conn.call("jobs.create", {"type": "t"}))
    while not socket.sent:
        await asyncio.sleep(0)
    reconnect_soon(conn)
    result = await call
    first, second = socket.sent
    assert first["params"]["request_id"] == second["params"]["request_id"]
    assert first["id"] != second["id"]  # a late reply to the lost send is never taken for it
    assert result["params"]["request_id"] == first["params"]["request_id"]


async def test_reads_are_sent_again_and_other_calls_fail() -> None:
    conn, socket = connected(drop=2)
    done = asyncio.ensure_future(conn.call("jobs.done", {"id": "x", "lease": "l"}))
    with pytest.raises(ConnectionLost):
        await done
    conn._connected.set()
    read = asyncio.ensure_future(conn.call("jobs.find", {}))
    while len(socket.sent) < 2:
        await asyncio.sleep(0)
    reconnect_soon(conn)
    assert (await read)["method"] == "jobs.find"
    assert [f["method"] for f in socket.sent] == ["jobs.done", "jobs.find", "jobs.find"]


async def test_a_call_made_while_disconnected_waits_for_the_connection() -> None:
    conn, socket = connected()
    conn._connected.clear()
    call = asyncio.ensure_future(conn.call("jobs.create", {"type": "t"}))
    await asyncio.sleep(0)
    assert not socket.sent and not call.done()
    reconnect_soon(conn)
    assert (await call)["method"] == "jobs.create"


async def test_a_call_waits_no_longer_than_its_deadline() -> None:
    conn, _ = connected()
    conn._connected.clear()
    with pytest.raises(TimeoutError, match="no connection to the server within 0.05s"):
        await conn.call("jobs.create", {"type": "t"}, timeout=0.05)


async def test_a_closed_client_fails_waiting_calls_at_once() -> None:
    conn, _ = connected()
    conn._connected.clear()
    call = asyncio.ensure_future(conn.call("jobs.get", {"id": "x"}))
    await asyncio.sleep(0)
    conn._ws = None
    await conn.close()
    with pytest.raises(ConnectionLost, match="closed"):
        await call


async def test_no_request_id_for_a_server_that_knows_none() -> None:
    conn, socket = connected()
    conn.identity = {"user": "u"}  # a 0.1.0 server: its auth reply has no protocol
    await conn.call("jobs.create", {"type": "t"})
    assert "request_id" not in socket.sent[0]["params"]


@pytest.mark.parametrize("given", ["per call", "client default"])
async def test_a_call_unanswered_within_its_deadline_times_out(given, monkeypatch) -> None:
    conn, socket = connected()
    monkeypatch.setattr(connection, "SWEEP_SECONDS", 0.01)  # default deadlines: swept

    async def swallow(message: str) -> None:
        socket.sent.append(json.loads(message))

    socket.send = swallow  # type: ignore[method-assign]
    with pytest.raises(TimeoutError, match="no reply from the server within 0.05s"):
        if given == "per call":
            await conn.call("jobs.get", {"id": "x"}, timeout=0.05)
        else:
            conn.call_timeout = 0.05
            await conn.call("jobs.get", {"id": "x"})
    assert not conn.calls.pending and not conn.calls.due  # a late reply has nothing left to wake
