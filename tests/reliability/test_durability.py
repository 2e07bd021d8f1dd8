"""Guarantee 1: an acknowledged write is durable. Producers save (and cancel) jobs as fast as
they can; right after one acknowledgement arrives the server is killed with SIGKILL, from the
very coroutine that received it. After a restart every acknowledged job is there, in the state
that was acknowledged. Writes in flight at the kill may or may not have happened: the client
got no answer, so nothing was promised about them."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from typing import Any

import pytest

from livejobs_sdk import CallError, Client, ConnectionLost
from tests.servers import ProcessServer

PRODUCERS = 8
ROUNDS = 3


async def find_all(client: Client, filter: dict[str, Any]) -> list[dict[str, Any]]:
    """Every matching job, a page at a time (one frame of thousands of jobs is too large)."""
    docs: list[dict[str, Any]] = []
    for page in range(1000):
        batch = await client.find(
            filter, sort=[["created", 1], ["id", 1]], limit=500, skip=page * 500
        )
        docs += batch
        if len(batch) < 500:
            return docs
    raise AssertionError("more pages than expected")


class Acks:
    """What the server acknowledged: created ids, and ids whose cancel was acknowledged."""

    def __init__(self, kill_after: int, pid: int) -> None:
        self.created: set[str] = set()
        self.cancelled: set[str] = set()
        self.kill_after = kill_after
        self.pid = pid
        self.killed = False

    def ack(self) -> None:
        if not self.killed and len(self.created) + len(self.cancelled) >= self.kill_after:
            os.kill(self.pid, signal.SIGKILL)  # synchronously, before anything else runs
            self.killed = True


async def produce(client: Client, acks: Acks, rng: random.Random, n: int, rnd: int) -> None:
    mine: list[str] = []
    for i in range(10_000):  # bounded; the kill ends it long before
        if acks.killed:
            return
        try:
            choice = rng.random()
            if choice < 0.15 and mine:
                victim = mine.pop(rng.randrange(len(mine)))
                await client.call("jobs.cancel", {"id": victim})
                acks.cancelled.add(victim)
            elif choice < 0.3:
                ids = await client.create_many(
                    [("durable", {"round": rnd, "producer": n, "i": i, "k": k}) for k in range(5)]
                )
                acks.created.update(ids)
                mine += ids
            else:
                job = await client.job("durable", {"round": rnd, "producer": n, "i": i}).save()
                acks.created.add(job.id)
                mine.append(job.id)
        except (ConnectionLost, CallError, OSError):
            return  # the server is gone; this write's outcome is unknown, so not counted
        acks.ack()


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_acknowledged_saves_survive_kill_9(tmp_path, synchronous):
    rng = random.Random(f"durability-{synchronous}")
    server = ProcessServer(tmp_path / "jobs.db", "--synchronous", synchronous)
    created: set[str] = set()
    cancelled: set[str] = set()
    await server.start()
    try:
        for rnd in range(ROUNDS):
            assert server.proc is not None
            acks = Acks(kill_after=rng.randint(50, 400), pid=server.proc.pid)
            async with server.client(reconnect=False) as client:
                await asyncio.wait_for(
                    asyncio.gather(*(produce(client, acks, rng, n, rnd) for n in range(PRODUCERS))),
                    60,
                )
            assert acks.killed, "the producers stopped before the kill"
            assert server.proc.wait(10) == -signal.SIGKILL
            created |= acks.created
            cancelled |= acks.cancelled
            await server.start()  # same file, same port
            async with server.client(reconnect=False) as client:
                docs = {d["id"]: d for d in await find_all(client, {"type": "durable"})}
            lost = created - docs.keys()
            assert not lost, f"{len(lost)} acknowledged saves lost after kill -9 (round {rnd})"
            not_cancelled = [i for i in cancelled if docs[i]["status"] != "cancelled"]
            assert not not_cancelled, f"acknowledged cancels lost: {not_cancelled[:5]}"
        assert len(created) >= ROUNDS * 50
    finally:
        await server.stop()
