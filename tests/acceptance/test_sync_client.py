"""``SyncClient`` as synchronous applications use it: one instance shared by many plain threads
(no event loop in any of them) against a ``livejobs serve`` process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from livejobs_sdk import JobFailed, SyncClient, SyncWorkerJob
from tests.servers import ROOT, ProcessServer

THREADS = 50


def no_loop_here() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def double(job: SyncWorkerJob) -> dict[str, Any]:
    """A sync handler: runs in the worker's thread pool, reports through blocking calls."""
    no_loop_here()
    job.progress(1, 1)
    if job.data["n"] < 0:
        raise ValueError("negative")
    return {"n": job.data["n"] * 2, "thread": threading.current_thread().name}


def test_fifty_threads_create_and_wait_on_one_client_with_a_sync_worker(sync_server):
    no_loop_here()
    start = threading.Barrier(THREADS)

    def caller(n: int) -> tuple[Any, Any]:
        no_loop_here()
        start.wait(10)  # all 50 at once on the one client
        job = client.job("double", {"n": n}).retry(retries=0).save()
        return job.result(timeout=30), client.run("double", {"n": -n - 1}, timeout=30)

    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        with client.worker("double", double, concurrency=8):
            with ThreadPoolExecutor(THREADS) as pool:
                futures = [pool.submit(caller, n) for n in range(THREADS)]
                errors = [f.exception(60) for f in futures]
        counts = client.counts({"type": "double"})
    for n, error in enumerate(errors):  # the second job of each thread failed in its handler
        assert isinstance(error, JobFailed) and "negative" in str(error.doc["failures"]), n
    assert counts["status"] == {"completed": THREADS, "failed": THREADS}
    done = client_results(sync_server)
    assert sorted(d["result"]["n"] for d in done) == [2 * n for n in range(THREADS)]
    assert all(d["result"]["thread"].startswith("livejobs-handler") for d in done)
    assert all(d["progress"]["percent"] == 100 for d in done)


def client_results(srv: ProcessServer) -> list[dict[str, Any]]:
    with SyncClient(srv.ws_url, srv.admin_token) as client:
        return client.find({"type": "double", "status": "completed"})


def test_a_subscription_iterated_in_a_thread_sees_jobs_complete(sync_server):
    client = SyncClient(sync_server.ws_url, sync_server.admin_token)  # connects on first use
    subscribed = threading.Event()
    seen: list[str] = []

    def watch() -> None:
        no_loop_here()
        with client.subscribe({"type": "watched"}) as sub:
            for event in sub:
                if event.kind == "ready":
                    subscribed.set()
                elif event.doc is not None and event.doc["status"] == "completed":
                    seen.append(event.doc["id"])
                    if len(seen) == 3:
                        return

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert subscribed.wait(10)
    with client.worker("watched", lambda job: job.data, concurrency=2):
        ids = [client.job("watched", n).save().id for n in range(3)]
        watcher.join(20)
    assert not watcher.is_alive() and sorted(seen) == sorted(ids)
    client.close()
    client.close()  # idempotent
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.get_job(ids[0])


def test_it_reconnects_after_the_server_restarts(sync_server):
    with SyncClient(sync_server.ws_url, sync_server.admin_token, call_timeout=20) as client:
        first = client.job("later", 1).save()
        asyncio.run(sync_server.restart())  # same port and file
        second = client.job("later", 2).save()  # waits for the reconnect, within call_timeout
        assert client.get_job(first.id)["status"] == "ready" and second.id != first.id
        with client.worker("later", lambda job: job.data + 1):
            assert second.result(timeout=20) == 3


def test_a_client_never_closed_closes_at_interpreter_exit(sync_server):
    script = (
        "from worker_sdk import SyncClient\n"
        f"client = SyncClient({sync_server.ws_url!r}, {sync_server.admin_token!r})\n"
        "print(client.job('left', 1).save().id)\n"
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert time.monotonic() - began < 15
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        assert client.get_job(done.stdout.strip())["type"] == "left"


FORKED = """
import os
from livejobs_sdk import SyncClient
client = SyncClient({url!r}, {token!r})
client.job("forked", "parent").save()  # connected before the fork, as after a preload
pid = os.fork()
if pid == 0:
    try:
        print("child", client.job("forked", "child").save().status, flush=True)
        client.close()
        os._exit(0)
    except BaseException as exc:
        print("child failed:", repr(exc), flush=True)
        os._exit(1)
_, status = os.waitpid(pid, 0)
print("parent", client.job("forked", "again").save().status, os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_gets_a_connection_of_its_own_and_leaves_the_parents(sync_server):
    script = FORKED.format(url=sync_server.ws_url, token=sync_server.admin_token)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["child ready", "parent ready 0"], done.stdout
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        assert client.counts({"type": "forked"})["type"] == {"forked": 3}
