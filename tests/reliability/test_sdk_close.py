"""Closing a ``Client``, or losing it for good (``reconnect=False``), ends what it owns: a
running worker, a subscription being iterated and a wait for a job's result finish promptly
instead of waiting forever for a connection that will never come back."""

from __future__ import annotations

import asyncio
from typing import Any

from livejobs_sdk import ConnectionLost
from tests.helpers import collect_until_ready
from tests.servers import InProcessServer, ProcessServer


async def idle(job: Any) -> None:
    await asyncio.Event().wait()


async def ended(task: asyncio.Task[Any]) -> BaseException | None:
    """What ``task`` ended with, failing the test if it does not end within seconds."""
    done, _ = await asyncio.wait([task], timeout=5)
    if not done:
        task.cancel()
    assert done, f"{task.get_name()} still waits though its client is gone"
    return task.exception()


async def test_closing_a_client_ends_its_worker_its_subscriptions_and_its_waits(
    server: InProcessServer,
) -> None:
    async with server.client() as producer:
        pending = await producer.job("nobody-runs-this").save()
        client = await server.client().connect()
        sub = client.subscribe({"type": "nobody-runs-this"})
        await collect_until_ready(sub)

        async def iterate() -> None:
            async for _ in sub:
                pass

        worker = client.worker("close-me", idle)
        tasks = [
            asyncio.create_task(worker.run()),
            asyncio.create_task(iterate()),
            asyncio.create_task(client.wait_finished(pending.id)),
        ]
        while worker.worker_id is None:
            await asyncio.sleep(0.01)
        await client.close()
        outcomes = [await ended(task) for task in tasks]
        assert outcomes[1] is None  # the iteration ends
        assert isinstance(outcomes[0], ConnectionLost)
        assert isinstance(outcomes[2], ConnectionLost)


async def test_without_reconnect_a_worker_and_a_subscription_end_when_the_server_goes(
    live_server: ProcessServer,
) -> None:
    client = await live_server.client(reconnect=False).connect()
    try:
        sub = client.subscribe({"type": "gone"})
        await collect_until_ready(sub)
        worker = client.worker("gone", idle)
        working = asyncio.create_task(worker.run())
        listening = asyncio.create_task(sub.next(60))
        while worker.worker_id is None:
            await asyncio.sleep(0.01)
        await live_server.kill()
        assert isinstance(await ended(working), ConnectionLost)
        assert isinstance(await ended(listening), ConnectionLost)
    finally:
        await client.close()


async def test_connecting_twice_opens_one_connection_that_close_ends(
    live_server: ProcessServer,
) -> None:
    client = await live_server.client().connect()
    async with client:  # ``async with`` connects too
        assert await client.counts() is not None
    readers = [t for t in asyncio.all_tasks() if t.get_name() == "livejobs-connection"]
    assert [t for t in readers if not t.done()] == []
