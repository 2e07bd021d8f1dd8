"""Two servers on one store whose hosts' clocks disagree by five minutes agree on every lease and
delay: each keeps its time on the store's clock (``livejobs.clock.StoreClock``).

Server B runs with its ``time.time`` five minutes ahead (``tests/skewed_serve.py``). On its own
clock, B would expire at once every lease that A grants, and a delay B sets would keep the job
waiting five minutes more on A.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import running_worker, wait_status
from tests.servers import ProcessServer, started

SKEW = 300.0


class SkewedServer(ProcessServer):
    """``livejobs serve`` on a host whose clock is ``skew`` seconds off."""

    def __init__(self, db_path: Path, skew: float) -> None:
        super().__init__(db_path)
        self.skew = skew

    def command(self) -> list[str]:
        python, _, module, *rest = super().command()
        assert module == "livejobs.cli"
        return [python, "-m", "tests.skewed_serve", str(self.skew), *rest]


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[ProcessServer, ProcessServer]]:
    a = ProcessServer(tmp_path / "jobs.db")
    b = SkewedServer(tmp_path / "jobs.db", SKEW)
    async with started(a, b):
        yield a, b


async def test_a_delay_set_by_a_server_ahead_of_time_is_kept_by_the_others(servers):
    a, b = servers

    async def handler(job: Any) -> str:
        return "done"

    async with a.client() as worker_client, b.client() as producer:
        async with running_worker(worker_client, "later", handler):
            job = await producer.job("later", {}).delay(0.5).save()
            done = await wait_status(producer, job.id, "completed", "failed", timeout=20)
    assert done["status"] == "completed"
    assert done["attempts"] == 1


async def test_a_lease_is_not_expired_early_by_a_server_ahead_of_time(servers):
    """The job is held across three renewals of a one-second lease, watched through B: on its
    own clock B would take each lease for expired within milliseconds of its grant."""
    a, b = servers
    release = asyncio.Event()

    async def handler(job: Any) -> str:
        await release.wait()
        return "done"

    async with a.client() as worker_client, b.client() as watcher:
        async with (
            watcher.subscribe({"type": "held"}) as sub,
            running_worker(worker_client, "held", handler, lease=1),
        ):
            job = await watcher.job("held", {}).save()
            expiries = await renewals_seen(sub, job.id, count=3)
            release.set()
            done = await wait_status(watcher, job.id, "completed", "failed", timeout=10)
    assert expiries == sorted(expiries), "a renewal went back in time"
    assert done["status"] == "completed"
    assert done["attempts"] == 1
    assert not done.get("failures")


async def renewals_seen(sub: Any, job_id: str, count: int) -> list[float]:
    """The lease expiries of ``job_id`` as ``sub`` sees them, until ``count`` renewals."""
    expiries: list[float] = []
    while len(expiries) <= count:
        event = await sub.next(10)
        doc = event.doc or {}
        if event.id != job_id:
            continue
        if expiries:
            assert doc.get("status") == "running", f"the lease was broken: {doc}"
        lease = doc.get("lease")
        if lease and (not expiries or lease["expires"] > expiries[-1]):
            expiries.append(lease["expires"])
    return expiries


async def test_the_skewed_server_reports_the_store_time(servers):
    """B's answers carry the store's time, not its host's: a job it creates is stamped now."""
    a, b = servers
    async with a.client() as client_a, b.client() as client_b:
        on_a = await client_a.job("stamp", {}).save()
        on_b = await client_b.job("stamp", {}).save()
        doc_a = await client_a.call("jobs.get", {"id": on_a.id})
        doc_b = await client_a.call("jobs.get", {"id": on_b.id})
    assert abs(doc_b["created"] - doc_a["created"]) < 5, "B stamped its own, skewed time"
