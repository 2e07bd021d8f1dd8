"""One user may hold at most ``max_connections_per_user`` authenticated WebSockets on a server.

Each connection costs the server a socket, its buffers and its bookkeeping; without a cap one
token (leaked, or a buggy client reconnecting in a loop without closing) could open
connections until the process ran out of file descriptors, and every other user's connection
would then be refused. Past the cap, ``auth`` answers ``rate_limited`` and the socket is closed
(1008), so the SDK backs off and retries; other users are not affected.
"""

from __future__ import annotations

import contextlib
import json
import resource
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livejobs.edges.ws import RESERVED_DESCRIPTORS, connection_limit
from livejobs.settings import Settings
from livejobs_sdk import CallError, Client
from tests.servers import InProcessServer, started

LIMIT = 3


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[InProcessServer]:
    async with started(InProcessServer(tmp_path / "jobs.db", max_connections_per_user=LIMIT)) as (
        srv,
    ):
        yield srv


async def _auth(srv: InProcessServer, token: str) -> tuple[ClientConnection, dict]:
    ws = await connect(srv.ws_url)
    await ws.send(
        json.dumps({"msg": "call", "id": 1, "method": "auth", "params": {"token": token}})
    )
    return ws, json.loads(await ws.recv())


async def test_a_user_past_its_connection_limit_is_refused(server: InProcessServer) -> None:
    ann = await server.token("creator", "ann")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(LIMIT):
            await stack.enter_async_context(server.client(ann))
        ws, reply = await _auth(server, ann)
        assert reply["error"]["code"] == "rate_limited"
        assert "max_connections_per_user" in reply["error"]["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "too many connections for this user"

        with pytest.raises(CallError) as refused:
            async with server.client(ann, reconnect=False):
                pass
        assert refused.value.code == "rate_limited"

        # other users are not affected
        bob = await server.token("creator", "bob")
        async with server.client(bob) as other:
            assert (await other.call("jobs.counts", {}))["status"] == {}

    # the connections closed: ann may connect again
    async with server.client(ann) as again:
        assert await again.call("jobs.find", {}) == []


async def test_refused_connections_are_not_counted(server: InProcessServer) -> None:
    ann = await server.token("creator", "ann")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(LIMIT):
            await stack.enter_async_context(server.client(ann))
        for _ in range(5):
            ws, reply = await _auth(server, ann)
            assert reply["error"]["code"] == "rate_limited"
            await ws.close()
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(LIMIT):
            client: Client = await stack.enter_async_context(server.client(ann))
            assert await client.call("jobs.find", {}) == []


async def test_connections_the_server_ends_are_not_counted(server: InProcessServer) -> None:
    """Sessions closed by the server (here: their token revoked) free their places at once."""
    ann = await server.token("creator", "ann")
    closed = []
    for _ in range(LIMIT):
        ws, reply = await _auth(server, ann)
        assert "result" in reply
        closed.append(ws)
    async with server.client() as admin:
        [token] = await admin.call("tokens.list", {"user": "ann"})
        await admin.call("tokens.revoke", {"id": token["id"]})
    for ws in closed:
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    fresh = await server.token("creator", "ann")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(LIMIT):
            client: Client = await stack.enter_async_context(server.client(fresh))
            assert await client.call("jobs.find", {}) == []


def test_by_default_a_user_may_take_all_but_a_reserve_of_descriptors() -> None:
    """Many clients may share one identity (browsers under ``anonymous_role``, a fleet of
    workers on one token, the bench's ten thousand subscribers): by default the limit is the
    process's open-file limit less a reserve, so one user never leaves the others without a
    descriptor; set it lower where users do not share identities."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_limit(Settings()) == max(soft - RESERVED_DESCRIPTORS, 1)
    assert connection_limit(Settings(max_connections_per_user=5)) == 5
