"""Closing a subscription ends its iteration, as closing a file ends reading it: a task (or, with
the sync client, a thread) iterating it stops, instead of waiting for ever for an event that
no longer comes."""

from __future__ import annotations

import asyncio
import threading

from livejobs_sdk import SyncClient
from tests.helpers import collect_until_ready
from tests.servers import InProcessServer, ProcessServer


async def test_closing_a_subscription_ends_the_task_iterating_it(server: InProcessServer) -> None:
    async with server.client() as client:
        sub = client.subscribe({"type": "quiet"})
        await collect_until_ready(sub)

        async def iterate() -> list[str]:
            return [event.kind async for event in sub]

        iterating = asyncio.create_task(iterate())
        await asyncio.sleep(0)  # it waits for the next event
        await sub.close()
        assert await asyncio.wait_for(iterating, 5) == []


def test_closing_a_sync_subscription_ends_the_thread_iterating_it(
    sync_server: ProcessServer,
) -> None:
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        sub = client.subscribe({"type": "quiet"}).start()
        assert sub.ready.wait(10)
        seen: list[str] = []
        ready_drained = threading.Event()

        def iterate() -> None:
            for event in sub:
                seen.append(event.kind)
                if event.kind == "ready":
                    ready_drained.set()

        reader = threading.Thread(target=iterate, daemon=True)
        reader.start()
        assert ready_drained.wait(10)
        sub.close()
        reader.join(5)
        assert not reader.is_alive() and seen == ["ready"]
