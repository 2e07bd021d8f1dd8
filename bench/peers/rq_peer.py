"""RQ peer: ``SimpleWorker`` (no fork per job), ``enqueue_many`` in one pipeline per batch.

Defaults otherwise: results kept (result_ttl 500 s), job hashes written, finished-job registry
maintained. Completion is read from that registry, which the worker fills as each job finishes.
"""

from __future__ import annotations

import sys
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from rq.registry import FinishedJobRegistry

import common

FUNC = "rq_peer.noop"  # by name, so the worker imports this module rather than __main__


def noop(payload: Any) -> None:
    common.probe(payload)


class Adapter:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.redis = Redis.from_url(args.redis)
        self.queue = Queue(args.queue, connection=self.redis)
        self.finished_key = FinishedJobRegistry(queue=self.queue).key

    def open(self) -> None:
        self.redis.ping()

    def close(self) -> None:
        self.redis.close()

    def enqueue_batch(self, first: int, count: int) -> None:
        self.queue.enqueue_many(
            [Queue.prepare_data(FUNC, args=({"i": first + k},)) for k in range(count)]
        )

    def enqueue_probe(self, payload: dict[str, Any]) -> None:
        self.queue.enqueue(FUNC, payload)

    def completed(self) -> int:
        return int(self.redis.zcard(self.finished_key))

    def stored(self) -> int:
        return int(self.queue.count)

    def run_worker(self) -> None:
        worker = SimpleWorker([self.queue], connection=self.redis)
        self.redis.ping()
        common.ready()
        worker.work(with_scheduler=False, logging_level="WARNING")


if __name__ == "__main__":
    common.main(Adapter, sys.argv[1:])
