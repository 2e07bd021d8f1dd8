"""``livejobs worker --processes N``: each job in a child process. A crashing handler fails its
job with a clear error and the worker carries on; a CPU-bound async handler does not starve the
heartbeats (the lease is one second); a job stopped at its time limit has its child killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.acceptance.test_cli import env_for
from tests.servers import ROOT, ProcessServer

HANDLERS = """
import os, signal, time

async def handle(job):
    if job.type == "crash":
        os._exit(7)
    if job.type == "spin":  # holds its event loop (and the CPU) past its one-second lease
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            pass
    if job.type == "hang":
        with open(job.data["pidfile"], "w") as f:
            f.write(str(os.getpid()))
        signal.alarm(60)  # blocks until killed; the alarm ends an orphan if the test died
        signal.pause()
    return {"pid": os.getpid()}
"""


async def _gone(pid: int) -> None:
    """Wait for ``pid`` to exit: its pidfd becomes readable then (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(fd, lambda: exited.done() or exited.set_result(None))
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_children_isolate_crashes_cpu_and_time_limits(tmp_path: Path) -> None:
    (tmp_path / "iso_handlers.py").write_text(HANDLERS)
    server = ProcessServer(tmp_path / "jobs.db", "--lease", "1")
    await server.start()
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "livejobs.cli", "worker", "iso_handlers:handle", "--processes",
         "2", *(arg for t in ("crash", "spin", "ok", "hang") for arg in ("--type", t))],
        cwd=ROOT, env=env_for(server, PYTHONPATH=str(tmp_path)), stdout=log, stderr=log,
    )  # fmt: skip
    try:
        async with server.client() as client:
            crashed = await client.job("crash").save()
            failed = await client.wait_finished(crashed.id, timeout=30)
            assert failed["status"] == "failed"
            assert "died (crashed or was killed)" in failed["failures"][0]["error"]["message"]
            spin, ok = await client.job("spin").save(), await client.job("ok").save()
            spun = await client.wait_finished(spin.id, timeout=30)
            done = await client.wait_finished(ok.id, timeout=30)
            assert spun["status"] == done["status"] == "completed", spun["failures"]
            assert spun["attempts"] == 1 and not spun["failures"]  # heartbeats went on
            assert done["result"]["pid"] not in (worker.pid, os.getpid())
            pidfile = tmp_path / "hang.pid"
            hang = await client.job("hang", {"pidfile": str(pidfile)}).time_limit(1).save()
            stopped = await client.wait_finished(hang.id, timeout=30)
            assert stopped["reason"] == "time limit"
            await asyncio.wait_for(_gone(int(pidfile.read_text())), 10)  # its child killed
        assert worker.poll() is None  # the worker carried on through all of it
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            await asyncio.to_thread(worker.wait, 10)
        log.close()
        await server.stop()
