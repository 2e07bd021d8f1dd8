"""The sync client raises what the async client raises: after ``close()`` every call fails with
``ConnectionLost`` ("the client is closed"), a ``LivejobsError`` that code catching the SDK's
errors handles, as it would from the async client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from livejobs_sdk import Client, ConnectionLost, SyncClient
from tests.servers import ProcessServer

CALLS: dict[str, Callable[[Any], Any]] = {
    "get_job": lambda client: client.get_job("nothing"),
    "save": lambda client: client.job("closed").save(),
    "counts": lambda client: client.counts(),
    "subscribe": lambda client: client.subscribe({"type": "closed"}).start(),
}


@pytest.mark.parametrize("call", list(CALLS))
async def test_the_async_client_once_closed_raises_connection_lost(
    live_server: ProcessServer, call: str
) -> None:
    client = await Client(live_server.ws_url, live_server.admin_token).connect()
    await client.close()
    with pytest.raises(ConnectionLost, match="closed"):
        await CALLS[call](client)


@pytest.mark.parametrize("call", list(CALLS))
def test_the_sync_client_once_closed_raises_the_same(sync_server: ProcessServer, call: str) -> None:
    client = SyncClient(sync_server.ws_url, sync_server.admin_token).connect()
    client.close()
    with pytest.raises(ConnectionLost, match="closed"):
        CALLS[call](client)
