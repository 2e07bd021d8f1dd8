"""The sync client runs an ``async`` handler on its loop, given the async ``WorkerJob``, however
it is written: an ``async def`` function, a ``functools.partial`` of one, or an object whose
``__call__`` is ``async def`` (a handler class). Only a plain function goes to a thread."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from livejobs_sdk import SyncClient, WorkerJob
from tests.servers import ProcessServer


async def scaled(factor: int, job: WorkerJob) -> Any:
    assert isinstance(job, WorkerJob)  # the async job: ``await job.log(...)`` works
    await job.log("scaling")
    return job.data * factor


class Scaler:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    async def __call__(self, job: WorkerJob) -> Any:
        return await scaled(self.factor, job)


HANDLERS = {"partial": functools.partial(scaled, 3), "class": Scaler(3)}


@pytest.mark.parametrize("kind", list(HANDLERS))
def test_an_async_handler_object_runs_on_the_loop(sync_server: ProcessServer, kind: str) -> None:
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        with client.worker(f"scaled-{kind}", HANDLERS[kind]):
            assert client.run(f"scaled-{kind}", 14, timeout=10) == 42
