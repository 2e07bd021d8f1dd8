"""A worker of typed tasks runs as many plain (sync) task functions at once as its
``concurrency`` says: each runs in a thread, and no thread pool of asyncio's smaller default
size (the machine's cores plus four) may hold the others back."""

from __future__ import annotations

import asyncio
import os
import threading

from livejobs_sdk import Tasks
from livejobs_sdk.tasks import dispatch
from tests.helpers import running_worker, wait_count
from tests.servers import InProcessServer

AT_ONCE = (os.cpu_count() or 1) + 5  # more than asyncio's default pool takes
app = Tasks()
together = threading.Barrier(AT_ONCE)


@app.task(name="concurrency.meet")
def meet(n: int) -> int:
    together.wait(timeout=10)  # returns only once every one of them runs
    return n


async def test_a_worker_runs_concurrency_sync_tasks_at_once(server: InProcessServer) -> None:
    async with server.client() as client:
        app.use(client)
        handler = dispatch(app.tasks)
        async with running_worker(client, list(app.tasks), handler, concurrency=AT_ONCE):
            await asyncio.gather(*(meet.enqueue_async(n) for n in range(AT_ONCE)))
            done = await wait_count(
                client, {"type": "concurrency.meet", "status": "completed"}, AT_ONCE, timeout=15
            )
    assert sorted(doc["result"] for doc in done) == list(range(AT_ONCE))
