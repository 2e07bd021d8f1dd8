"""SDK failover: a ``Client`` given several servers (two processes on one SQLite file here, as
servers on one PostgreSQL database would be) opens on the first that answers, and when its
server dies its worker and subscriptions move to the next by themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livejobs_sdk import Client
from tests.helpers import collect_until_ready, running_worker
from tests.servers import ADMIN_TOKEN, ProcessServer, free_port


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[ProcessServer, ProcessServer]]:
    a, b = ProcessServer(tmp_path / "jobs.db"), ProcessServer(tmp_path / "jobs.db")
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def double(job: object) -> int:
    return int(job.data) * 2  # type: ignore[attr-defined]


def test_a_client_needs_a_server_url() -> None:
    with pytest.raises(ValueError, match="server URL"):
        Client([], token=ADMIN_TOKEN)


async def test_a_client_opens_on_the_first_server_that_answers(
    pair: tuple[ProcessServer, ProcessServer],
) -> None:
    _, b = pair
    dead = f"ws://127.0.0.1:{free_port()}/ws"
    async with Client([dead, b.ws_url], token=ADMIN_TOKEN) as client:
        assert await client.counts() is not None
        assert client._conn.url == b.ws_url


async def test_a_worker_and_a_subscription_move_on_when_their_server_dies(
    pair: tuple[ProcessServer, ProcessServer],
) -> None:
    a, b = pair
    async with Client([a.ws_url, b.ws_url], token=ADMIN_TOKEN) as client, b.client() as other:
        async with client.subscribe({"type": "fo"}) as sub:
            await collect_until_ready(sub)
            async with running_worker(client, "fo", double):
                assert await client.run("fo", 1, timeout=10) == 2
                await a.kill()
                # created on b: the worker, now on b, runs it; the subscription follows
                job = await other.job("fo", 5).save()
                done = await asyncio.wait_for(other.wait_finished(job.id), 10)
                assert done["status"] == "completed" and done["result"] == 10
                while (sub.docs.get(job.id) or {}).get("status") != "completed":
                    await sub.next(10)
                assert await client.run("fo", 7, timeout=10) == 14  # calls go to b
        assert client._conn.url == b.ws_url
