"""livejobs peer: the SDK's ``process_jobs`` worker (concurrency and prefetch = --concurrency,
default 10: up to 10 more jobs wait in the worker for a free handler, as Celery prefetches)
against a server on the SQLite store; the producer uses ``create_many``, ``BATCH`` jobs per call.

The run's queue name is the job type, so every run has jobs of its own. Completion is the
server's own count of completed jobs of that type (``client.counts``). ``--connections C`` runs
C clients in the one process, each its own WebSocket and worker (the "many workers" row).
SIGTERM stops the workers and lets the process exit normally, so that ``--runs-out`` is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import common
from livejobs_sdk import Client


async def noop(job: Any) -> None:
    common.probe(job.data)


class Adapter:
    def __init__(self, args: Any) -> None:
        self.args = args

    async def open(self) -> None:
        self.client = Client(self.args.server, token=self.args.token)
        await self.client.connect()

    async def close(self) -> None:
        await self.client.close()

    async def enqueue_batch(self, first: int, count: int) -> None:
        await self.client.create_many([(self.args.queue, {"i": first + k}) for k in range(count)])

    async def enqueue_probe(self, payload: dict[str, Any]) -> None:
        await self.client.job(self.args.queue, payload).save()

    async def completed(self) -> int:
        counts = await self.client.counts({"type": self.args.queue})
        return int(counts["status"].get("completed", 0))

    async def stored(self) -> int:
        counts = await self.client.counts({"type": self.args.queue})
        return sum(counts["status"].values())

    def run_worker(self) -> None:
        asyncio.run(self._work())

    async def _work(self) -> None:
        main = asyncio.current_task()
        assert main is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        url, token = self.args.server, self.args.token
        clients = [Client(url, token=token) for _ in range(self.args.connections)]
        try:
            await asyncio.gather(*(client.connect() for client in clients))
            workers = [
                client.worker(
                    self.args.queue,
                    noop,
                    concurrency=self.args.concurrency,
                    prefetch=self.args.concurrency,
                )
                for client in clients
            ]
            running = asyncio.gather(*(worker.run() for worker in workers))
            while any(w.worker_id is None for w in workers) and not running.done():
                await asyncio.sleep(0.01)  # READY once the server has every worker
            common.ready()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        finally:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


if __name__ == "__main__":
    common.main(Adapter, sys.argv[1:])
