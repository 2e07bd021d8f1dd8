"""A worker process for fault tests; its job's ``data`` says what each execution does.

Usage: python -m tests.reliability.chaos_worker WS_URL TOKEN TYPES WORKER_ID JOURNAL
           [--concurrency N] [--lease SECONDS]

Data keys (all optional): ``ms`` how long the handler runs, ``fail_on`` the attempt numbers on
which it raises, ``note`` a log line written (with the job's lease) before running.

Every execution appends ``<job id> <attempt> <worker id>`` to JOURNAL before doing anything
else, so a test can compare what really ran with what the job's log says ran. SDK warnings
(e.g. a refused report) go to stdout, one per line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from typing import Any

from websockets.exceptions import InvalidHandshake

from livejobs_sdk import Client, LivejobsError, WorkerJob

CONNECT_DEADLINE = 30.0


async def main(args: argparse.Namespace) -> None:
    journal = open(args.journal, "a", buffering=1)  # one line per write(): survives kill -9

    async def handler(job: WorkerJob) -> Any:
        journal.write(f"{job.id} {job.attempt} {args.worker_id}\n")
        data = job.data if isinstance(job.data, dict) else {}
        if data.get("note"):
            await job.log(str(data["note"]))
        await asyncio.sleep(float(data.get("ms", 0)) / 1000)
        if job.attempt in data.get("fail_on", ()):
            raise RuntimeError(f"planned failure on attempt {job.attempt}")
        return {"attempt": job.attempt, "worker": args.worker_id}

    client = Client(args.url, token=args.token)
    deadline = time.monotonic() + CONNECT_DEADLINE
    while True:  # the server may be restarting when this worker starts: bounded retries
        try:
            await client.connect()
            break
        except (OSError, LivejobsError, TimeoutError, InvalidHandshake):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    print(f"connected {args.worker_id}", flush=True)
    work = asyncio.create_task(
        client.process_jobs(
            args.type.split(","),
            handler,
            concurrency=args.concurrency,
            worker_id=args.worker_id,
            lease=args.lease,
        )
    )
    # A guard kept from when the SDK gave up on failed handshakes (test_reconnect.py): should
    # its connection task ever die, exit, so that the test sees a dead worker, not a silent one.
    runner = client._conn._runner
    assert runner is not None
    await asyncio.wait({work, runner}, return_when=asyncio.FIRST_COMPLETED)
    if runner.done() and not work.done():
        reason = "cancelled" if runner.cancelled() else repr(runner.exception())
        print(f"SDK connection gave up: {reason}", flush=True)
        os._exit(3)
    await work


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for name in ("url", "token", "type", "worker_id", "journal"):  # type: comma-separated
        parser.add_argument(name)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--lease", type=float, default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stdout, level=logging.WARNING, format="%(levelname)s %(name)s %(message)s"
    )
    asyncio.run(main(parse(sys.argv[1:])))
