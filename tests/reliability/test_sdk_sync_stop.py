"""Ctrl-C on a ``SyncClient`` worker (``process_jobs``) as an operator presses it: the running
jobs are handed back without counting an attempt, the handlers, which run in threads and so
cannot be interrupted, are told through ``job.cancelled``, and the process exits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from tests.servers import ROOT, ProcessServer

JOBS = 3

HANDLERS = {
    "in threads": """
def handler(job):
    say("started", job)
    job.cancelled.wait()  # a cooperative handler: it stops when told
    say("told", job)
""",
    "on the loop": """
import asyncio

async def handler(job):
    say("started", job)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        say("told", job)
        raise
""",
}

WORKER = """
import os
from livejobs_sdk import SyncClient

def say(what, job):  # one write, whole, whichever threads say something at once
    os.write(1, f"{{what}} {{job.id}}\\n".encode())

client = SyncClient({url!r}, {token!r})
{handler}
client.process_jobs("interrupted", handler, concurrency={jobs})
"""


@pytest.mark.parametrize("handlers", list(HANDLERS))
async def test_ctrl_c_hands_every_running_job_back_and_the_process_exits(
    live_server: ProcessServer, handlers: str
) -> None:
    script = WORKER.format(
        url=live_server.ws_url, token=live_server.admin_token, handler=HANDLERS[handlers], jobs=JOBS
    )
    async with live_server.client() as client:
        ids = await client.create_many([("interrupted", n) for n in range(JOBS)])
        worker = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert worker.stdout is not None
            for _ in range(JOBS):  # every job running in a handler
                assert (await asyncio.to_thread(worker.stdout.readline)).startswith("started")
            pressed = time.monotonic()
            worker.send_signal(signal.SIGINT)
            out, err = await asyncio.to_thread(worker.communicate, timeout=20)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
        assert time.monotonic() - pressed < 10
        assert worker.returncode != 0 and "KeyboardInterrupt" in err
        assert out.count("told") == JOBS, out
        for doc in await client.get_jobs(ids):  # back in the queue, no attempt spent
            assert (doc["status"], doc["attempts"], doc["failures"]) == ("ready", 0, []), doc


BACKGROUND = """
import os, threading
from livejobs_sdk import SyncClient

client = SyncClient({url!r}, {token!r})
started = threading.Event()

def handler(job):
    started.set()
    job.cancelled.wait()  # a cooperative handler: it stops when told
    os.write(1, b"told\\n")

client.worker("left-running", handler).start()  # in the background, never stopped
client.job("left-running").save()
started.wait(10)
os.write(1, b"leaving\\n")
"""


async def test_a_background_worker_hands_its_jobs_back_when_the_program_ends(
    live_server: ProcessServer,
) -> None:
    script = BACKGROUND.format(url=live_server.ws_url, token=live_server.admin_token)
    ended = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.split() == ["leaving", "told"]
    async with live_server.client() as client:
        (doc,) = await client.find({"type": "left-running"})
        assert (doc["status"], doc["attempts"], doc["failures"]) == ("ready", 0, []), doc
