"""Celery peer: Redis broker, Redis result backend, ``--pool=solo`` (one process, one task at a
time: the "one worker process" of the scenarios), default prefetch multiplier (4), default early
ack. Mingle and gossip are off: they only matter between several workers and slow start-up.

Results are stored (the backend is its own Redis database, ``/1``), so completion is the growth
of that database's key count: one ``celery-task-meta-*`` key per finished task. Celery has no bulk
publish; the producer calls ``apply_async`` once per job, as an application would.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from celery.signals import worker_ready
from redis import Redis

import common


def _results_url(broker: str) -> str:
    parts = urlsplit(broker)
    return urlunsplit(parts._replace(path="/1"))


app = Celery("bench")


@app.task(name="noop")
def noop(payload: Any) -> None:
    common.probe(payload)


@worker_ready.connect
def _ready(**_: Any) -> None:
    common.ready()


class Adapter:
    def __init__(self, args: Any) -> None:
        self.args = args
        app.conf.update(
            broker_url=args.redis,
            result_backend=_results_url(args.redis),
            task_default_queue=args.queue,
            broker_connection_retry_on_startup=True,
        )
        self.results = Redis.from_url(_results_url(args.redis))
        self.broker = Redis.from_url(args.redis)

    def open(self) -> None:
        self.baseline = int(self.results.dbsize())

    def close(self) -> None:
        self.results.close()
        self.broker.close()

    def enqueue_batch(self, first: int, count: int) -> None:
        for k in range(count):
            noop.apply_async(args=({"i": first + k},), queue=self.args.queue)

    def enqueue_probe(self, payload: dict[str, Any]) -> None:
        noop.apply_async(args=(payload,), queue=self.args.queue)

    def completed(self) -> int:
        return int(self.results.dbsize()) - self.baseline

    def stored(self) -> int:
        """Messages waiting in the queue's list (kombu's Redis transport, priority 0)."""
        return int(self.broker.llen(self.args.queue))

    def run_worker(self) -> None:
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--queues",
                self.args.queue,
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
            ]
        )


if __name__ == "__main__":
    common.main(Adapter, sys.argv[1:])
