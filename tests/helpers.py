"""Small awaitable helpers for tests: wait for a condition on live events, never sleep."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from livejobs_sdk import Client, Subscription, WorkerJob
from livejobs_sdk.errors import ConnectionLost


async def wait_for_doc(
    client: Client, job_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    """Subscribe to one job and return its document once ``predicate`` holds."""

    async def wait() -> dict[str, Any]:
        async with client.subscribe({"id": job_id}) as sub:
            async for _event in sub:
                doc = sub.docs.get(job_id)
                if doc is not None and predicate(doc):
                    return doc
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(wait(), timeout)


async def wait_status(
    client: Client, job_id: str, *statuses: str, timeout: float = 10
) -> dict[str, Any]:
    return await wait_for_doc(client, job_id, lambda d: d["status"] in statuses, timeout)


async def wait_count(
    client: Client, filter: dict[str, Any], n: int, timeout: float = 10
) -> list[dict[str, Any]]:
    """Subscribe to ``filter`` and return its documents once exactly ``n`` match."""

    async def wait() -> list[dict[str, Any]]:
        async with client.subscribe(filter) as sub:
            async for _ in sub:
                if sub.ready.is_set() and len(sub.docs) == n:
                    return list(sub.docs.values())
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(wait(), timeout)


async def collect_until_ready(sub: Subscription, timeout: float = 10) -> list[Any]:
    events = []
    while True:
        event = await sub.next(timeout)
        events.append(event)
        if event.kind == "ready":
            return events


@contextlib.asynccontextmanager
async def running_worker(
    client: Client,
    job_type: str | list[str],
    handler: Callable[[WorkerJob], Awaitable[Any]],
    **options: Any,
) -> AsyncIterator[None]:
    """Run ``process_jobs`` for the duration of a ``with`` block. A client made without
    ``reconnect`` ends its worker with ``ConnectionLost`` once its server is gone: a block that
    stopped the server meant that."""
    task = asyncio.create_task(client.process_jobs(job_type, handler, **options))
    gone: tuple[type[BaseException], ...] = (asyncio.CancelledError,)
    if not client._conn.reconnect:
        gone += (ConnectionLost,)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(*gone):
            await task
