"""A client saving jobs while its server restarts (issue 21 item 5, issue 29): every ``save()``
waits for the connection to come back and succeeds, and a save whose reply was lost with the
old process is sent again with its request id, so it makes one job, not two."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from livejobs_sdk import Client
from tests.servers import InProcessServer, ProcessServer

SAVERS = 8
#: saves each stage waits for: before the outage, and after the server is back
STAGE = 40


async def save_through_a_restart(server: ProcessServer, sig: int) -> list[str]:
    """Savers run until ``STAGE`` saves landed after the restart; returns every saved id."""
    saved: list[str] = []
    enough = asyncio.Event()
    target = STAGE
    stop = False

    async def saver(client: Client, n: int) -> None:
        while not stop:
            job = await client.job("outage", {"saver": n}).save(timeout=30)
            saved.append(job.id)
            if len(saved) >= target:
                enough.set()

    async with server.client(call_timeout=30) as client:
        savers = [asyncio.create_task(saver(client, n)) for n in range(SAVERS)]
        try:
            await asyncio.wait_for(enough.wait(), 20)
            await server.stop(sig)  # saves are in flight: some replies are lost with it
            target, before = len(saved) + STAGE, len(saved)
            enough.clear()
            await server.start()
            await asyncio.wait_for(enough.wait(), 30)
            assert len(saved) >= before + STAGE
        finally:
            stop = True
            await asyncio.gather(*savers)  # a save that failed fails the test here
    return saved


RESTARTS = {"SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@pytest.mark.parametrize("how", list(RESTARTS))
async def test_every_save_succeeds_through_a_restart(tmp_path, how):
    server = ProcessServer(tmp_path / "jobs.db")
    await server.start()
    try:
        saved = await save_through_a_restart(server, RESTARTS[how])
        async with server.client() as client:
            for job_id in saved[-SAVERS:]:  # acknowledged saves are stored
                assert (await client.call("jobs.get", {"id": job_id}))["type"] == "outage"
    finally:
        await server.stop()


async def test_saves_retried_after_restarts_make_one_job_each(tmp_path):
    server = ProcessServer(tmp_path / "jobs.db")
    await server.start()
    try:
        saved: list[str] = []
        for _ in range(3):  # each kill is a chance for a reply lost after its commit
            saved += await save_through_a_restart(server, signal.SIGKILL)
        async with server.client() as client:
            stored = sum((await client.counts({"type": "outage"}))["status"].values())
        assert stored == len(saved)
    finally:
        await server.stop()


def _frames(message: str | bytes) -> list[Any]:
    decoded = json.loads(message)
    return decoded if isinstance(decoded, list) else [decoded]


@contextlib.asynccontextmanager
async def losing_first_create_reply(upstream: str) -> AsyncIterator[str]:
    """A WebSocket proxy that drops the connection in place of the first ``jobs.create``
    reply: the job is stored, the client never hears of it (a server dying right after its
    commit, made deterministic). Yields the proxy's URL."""
    lost: list[Any] = []

    async def relay(client: ServerConnection) -> None:
        creates: set[Any] = set()
        async with connect(upstream) as server:

            async def up() -> None:
                async for message in client:
                    for frame in _frames(message):
                        if frame.get("method") == "jobs.create":
                            creates.add(frame["id"])
                    await server.send(message)

            async def down() -> None:
                async for message in server:
                    if not lost and any(f.get("id") in creates for f in _frames(message)):
                        lost.append(message)
                        return
                    await client.send(message)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async with serve(relay, "127.0.0.1", 0) as proxy:
        yield f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    assert lost, "the proxy never saw a jobs.create reply"


async def test_a_create_whose_reply_was_lost_makes_one_job(server: InProcessServer):
    async with losing_first_create_reply(server.ws_url) as url:
        async with Client(url, token=server.admin_token, call_timeout=10) as client:
            job = await client.job("lost-reply").save()  # sent twice, one request id
    async with server.client() as client:
        stored = await client.find({"type": "lost-reply"})
    assert [doc["id"] for doc in stored] == [job.id]
