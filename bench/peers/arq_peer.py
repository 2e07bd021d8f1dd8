"""arq peer: one ``Worker`` (asyncio, ``max_jobs`` = --concurrency, default 10).

arq polls its sorted set; its default ``poll_delay`` is 0.5 s, which alone would put the median
dispatch latency near 250 ms and cap throughput. We run it at ``POLL_DELAY`` and say so in the
results. arq has no bulk enqueue: each ``enqueue_job`` is its own WATCH/MULTI transaction, so the
producer keeps ``IN_FLIGHT`` of them going at once on its connection pool. Results are kept
(``keep_result`` 3600 s, the default). Completion: a finished job leaves the queue's sorted set
in the same transaction that stores its result.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from arq import Worker, create_pool
from arq.connections import RedisSettings
from arq.worker import func

import common

POLL_DELAY = 0.01
IN_FLIGHT = 50


async def noop(ctx: dict[str, Any], payload: Any) -> None:
    common.probe(payload)


async def _started(ctx: dict[str, Any]) -> None:
    common.ready()


class Adapter:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.settings = RedisSettings.from_dsn(args.redis)
        self.enqueued = 0

    async def open(self) -> None:
        self.pool = await create_pool(self.settings, default_queue_name=self.args.queue)

    async def close(self) -> None:
        await self.pool.aclose()

    async def enqueue_batch(self, first: int, count: int) -> None:
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int) -> None:
            async with gate:
                await self.pool.enqueue_job("noop", {"i": i})

        await asyncio.gather(*(one(first + k) for k in range(count)))
        self.enqueued += count

    async def enqueue_probe(self, payload: dict[str, Any]) -> None:
        await self.pool.enqueue_job("noop", payload)

    async def completed(self) -> int:
        return self.enqueued - int(await self.pool.zcard(self.args.queue))

    async def stored(self) -> int:
        return int(await self.pool.zcard(self.args.queue))

    def run_worker(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        Worker(
            functions=[func(noop, name="noop")],
            redis_settings=self.settings,
            queue_name=self.args.queue,
            max_jobs=self.args.concurrency,
            poll_delay=POLL_DELAY,
            on_startup=_started,
        ).run()


if __name__ == "__main__":
    common.main(Adapter, sys.argv[1:])
