"""A job the server hands to the same worker again while that worker's previous run of it has
not ended yet (its connection dropped, so the server took the job back and retried it).

A handler in a thread cannot be interrupted, and an ``async`` handler may clean up after its
cancellation: the new run must wait for the old one, so one worker never runs a job twice at
once, and the new run must stay the worker's own (its lease renewed, a cancel reaching it)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from livejobs_sdk import Client, SyncClient, SyncWorkerJob, WorkerJob
from tests.helpers import wait_for_doc
from tests.reliability.procs import Proxy
from tests.servers import InProcessServer, ProcessServer


async def test_a_thread_handler_still_running_its_job_does_not_get_it_twice_at_once(
    live_server: ProcessServer,
) -> None:
    proxy = await Proxy(live_server.port).start()
    lock = threading.Lock()
    running: Counter[str] = Counter()
    starts: list[int] = []
    most_at_once = 0
    started = threading.Condition(lock)
    release = threading.Event()

    def stubborn(job: SyncWorkerJob) -> str:
        """Ignores ``job.cancelled``, as a long computation does."""
        nonlocal most_at_once
        with lock:
            running[job.id] += 1
            most_at_once = max(most_at_once, running[job.id])
            starts.append(job.attempt)
            started.notify_all()
        release.wait(20)
        with lock:
            running[job.id] -= 1
        return "done"

    def starts_reach(n: int, timeout: float) -> bool:
        with lock:
            return started.wait_for(lambda: len(starts) >= n, timeout)

    sync = SyncClient(proxy.ws_url, live_server.admin_token)
    try:
        async with live_server.client() as client:
            worker = await asyncio.to_thread(lambda: sync.worker("rerun", stubborn, concurrency=2))
            await asyncio.to_thread(worker.start)
            job = await client.job("rerun").retry(retries=2).save()
            assert await asyncio.to_thread(starts_reach, 1, 10)
            proxy.cut()  # the server takes the job back and pushes it again, to this worker
            await wait_for_doc(client, job.id, lambda d: d["attempts"] == 2)
            # the first run still goes on: a second one must not start beside it
            assert not await asyncio.to_thread(starts_reach, 2, 1.0), starts
            release.set()
            done = await wait_for_doc(client, job.id, lambda d: d["status"] == "completed")
            assert done["result"] == "done"
            assert most_at_once == 1 and starts == [1, 2]
            await asyncio.to_thread(worker.stop, 10)
    finally:
        release.set()
        await asyncio.to_thread(sync.close)
        await proxy.close()


async def test_the_new_run_of_a_job_stays_the_workers_own_after_the_old_run_cleans_up(
    server: InProcessServer,
) -> None:
    proxy = await Proxy(server.port).start()
    attempts: list[int] = []
    started = asyncio.Condition()
    cleaning = asyncio.Event()
    cleaned = asyncio.Event()
    cancelled_while_running: list[int] = []
    second_cancelled = asyncio.Event()

    async def careful(job: WorkerJob) -> Any:
        """Cleans up (a slow close of some resource) when its run is cancelled."""
        async with started:
            attempts.append(job.attempt)
            started.notify_all()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled_while_running.append(job.attempt)
            if job.attempt == 2:
                second_cancelled.set()
            if job.attempt == 1:
                cleaning.set()
                await cleaned.wait()
            raise

    async def started_count(n: int) -> None:
        async with started:
            await asyncio.wait_for(started.wait_for(lambda: len(attempts) >= n), 10)

    try:
        cut_off = Client(proxy.ws_url, server.admin_token)
        async with server.client() as client, cut_off as through_proxy:
            # the first run cleans up while the server already pushes the job again
            work = asyncio.create_task(through_proxy.process_jobs("careful", careful))
            job = await client.job("careful").retry(retries=2).save()
            await started_count(1)
            proxy.cut()
            await asyncio.wait_for(cleaning.wait(), 10)
            await wait_for_doc(client, job.id, lambda d: d["attempts"] == 2)
            cleaned.set()
            await started_count(2)
            await client.cancel_jobs([job.id])  # must reach the second run's handler
            await asyncio.wait_for(second_cancelled.wait(), 5)
            assert cancelled_while_running == [1, 2]
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    finally:
        await proxy.close()
