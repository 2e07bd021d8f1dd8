"""livejobs peer: the SDK's ``process_jobs`` worker (concurrency and prefetch = --concurrency,
default 10: up to 10 more jobs wait in the worker for a free handler, as Celery prefetches)
against a server on the SQLite store; the producer uses ``create_many``, ``BATCH`` jobs per call.

The run's queue name is the job type, so every run has jobs of its own. Completion is the
server's own count of completed jobs of that type (``client.counts``).
"""

from __future__ import annotations

import asyncio
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

    def run_worker(self) -> None:
        asyncio.run(self._work())

    async def _work(self) -> None:
        async with Client(self.args.server, token=self.args.token) as client:
            common.ready()
            await client.process_jobs(
                self.args.queue,
                noop,
                concurrency=self.args.concurrency,
                prefetch=self.args.concurrency,
            )


if __name__ == "__main__":
    common.main(Adapter, sys.argv[1:])
