"""What a ``SyncClient`` hands out keeps it alive: a worker or a subscription made from a client
nobody else holds (``SyncClient(url).worker(...)``) works, instead of finding the client closed
by the garbage collector (which closes a client no longer referenced)."""

from __future__ import annotations

import gc
import threading

from livejobs_sdk import SyncClient, SyncWorkerJob
from tests.servers import ProcessServer


def double(job: SyncWorkerJob) -> int:
    return int(job.data) * 2


def test_a_worker_of_a_client_held_by_nobody_else_works(sync_server: ProcessServer) -> None:
    worker = SyncClient(sync_server.ws_url, sync_server.admin_token).worker("held", double)
    gc.collect()
    with worker, SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        assert client.run("held", 21, timeout=10) == 42


def test_a_subscription_of_a_client_held_by_nobody_else_works(sync_server: ProcessServer) -> None:
    sub = SyncClient(sync_server.ws_url, sync_server.admin_token).subscribe({"type": "held"})
    gc.collect()
    with sub, SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        assert sub.ready.wait(10)
        job = client.job("held", 1).save()
        assert next(event for event in sub if event.kind == "added").id == job.id


def test_closing_the_client_ends_the_threads_of_its_background_worker(
    sync_server: ProcessServer,
) -> None:
    before = set(threading.enumerate())
    client = SyncClient(sync_server.ws_url, sync_server.admin_token)
    client.worker("threads", double, concurrency=3).start()
    assert client.run("threads", 2, timeout=10) == 4  # a handler thread is started
    client.close()
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
        assert not thread.is_alive(), thread.name


def test_a_client_dropped_closes_at_once(sync_server: ProcessServer) -> None:
    before = set(threading.enumerate())
    client = SyncClient(sync_server.ws_url, sync_server.admin_token)
    client.job("dropped").save()
    gc.disable()  # no collection of cycles: dropping the last reference alone must close it
    try:
        del client
        for thread in set(threading.enumerate()) - before:
            thread.join(5)
            assert not thread.is_alive(), thread.name
    finally:
        gc.enable()
