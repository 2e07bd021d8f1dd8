"""A worker process for crash tests: takes jobs of one type and never finishes them.

Usage: python -m tests.workers.blocking_worker WS_URL TOKEN TYPE WORKER_ID
"""

from __future__ import annotations

import asyncio
import sys

from livejobs_sdk import Client


async def main(url: str, token: str, job_type: str, worker_id: str) -> None:
    async def handler(job):  # type: ignore[no-untyped-def]
        await job.log("working, and about to be killed")
        await asyncio.Event().wait()

    async with Client(url, token=token, reconnect=False) as client:
        await client.process_jobs(job_type, handler, concurrency=1, worker_id=worker_id)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
