"""A client whose token is revoked (or its user deleted) stops reconnecting once every server
has refused it: its calls, workers and subscriptions end with ``unauthenticated``, as a worker
with a wrong password ends, instead of retrying for ever and timing out."""

from __future__ import annotations

import asyncio

import pytest

from livejobs_sdk import CallError, Client
from tests.servers import InProcessServer


async def test_a_revoked_token_ends_the_clients_calls_and_workers(server: InProcessServer) -> None:
    token = await server.token("worker", "wanda")

    async def handler(job: object) -> None:
        return None

    async with Client(server.ws_url, token=token) as client, server.client() as admin:
        running = asyncio.create_task(client.process_jobs("mail", handler))
        while not server.services.dispatcher._workers:
            await asyncio.sleep(0.01)  # registered
        [record] = await admin.call("tokens.list", {"user": "wanda"})
        await admin.call("tokens.revoke", {"id": record["id"]})
        with pytest.raises(CallError) as refused:
            await asyncio.wait_for(running, 10)
        assert refused.value.code == "unauthenticated"
        with pytest.raises(CallError) as again:
            await client.call("jobs.counts", {}, timeout=10)
        assert again.value.code == "unauthenticated"
