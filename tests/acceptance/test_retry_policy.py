"""Retry policies: a deadline for retries, and defaults per job type and per server for jobs
created without a policy of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from livejobs.clock import ManualClock
from livejobs.settings import RetryPolicy, Settings, SettingsError
from livejobs_sdk import WorkerJob
from tests.helpers import running_worker, wait_for_doc, wait_status
from tests.servers import ADMIN_TOKEN, InProcessServer


async def _boom(job: WorkerJob) -> Any:
    raise RuntimeError(f"boom {job.attempt}")


async def test_retry_until_stops_retrying_after_its_time(clocked_server: InProcessServer):
    clock = clocked_server.clock
    async with clocked_server.client() as client:
        until = datetime.fromtimestamp(clock.now() + 15, UTC)
        job = await client.job("flaky").retry(retries=10, wait=10, until=until).save()
        assert job.doc["retry"]["until"] == pytest.approx(until.timestamp())
        async with running_worker(client, "flaky", _boom):
            doc = await wait_for_doc(client, job.id, lambda d: len(d["failures"]) == 1)
            assert doc["status"] == "waiting"  # the retry at +10 is before until (+15)
            clock.advance(10)
            doc = await wait_status(client, job.id, "failed")  # +20 would be past until
    assert doc["attempts"] == 2 and doc["reason"] == "boom 2"


async def test_a_type_default_retry_applies_to_jobs_created_without_one(
    server: InProcessServer,
):
    async with server.client() as client:
        rules = await client.set_type_retry("mail", {"retries": 4, "wait": 2})
        assert rules["retry"] == {"retries": 4, "wait": 2.0}
        assert any(t["type"] == "mail" for t in await client.call("types.list"))
        plain = await client.job("mail").save()
        assert plain.doc["retry"]["retries"] == 4 and plain.doc["retry"]["wait"] == 2
        own = await client.job("mail").retry(retries=1).save()
        assert own.doc["retry"]["retries"] == 1  # a job's own policy wins
        other = await client.job("other").save()
        assert other.doc["retry"]["retries"] == 0
        await client.set_type_retry("mail", None)
        assert (await client.job("mail").save()).doc["retry"]["retries"] == 0


async def test_a_type_default_retry_over_http(server: InProcessServer):
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        body = {"type": "mail", "retry": {"retries": 3, "backoff": "exponential"}}
        reply = await http.post("/api/call/types.set_retry", json=body)
        assert reply.status_code == 200, reply.text
        created = await http.post("/api/jobs", json={"type": "mail"})
        assert created.json()["result"]["retry"]["retries"] == 3
        bad = await http.post("/api/call/types.set_retry", json={"type": "x", "retry": {"no": 1}})
        assert bad.status_code == 400


@pytest.fixture
async def retrying_server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    policy = RetryPolicy(retries=2, wait=5)
    srv = InProcessServer(tmp_path / "jobs.db", clock=ManualClock(), default_retry=policy)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def test_the_server_default_retry_applies_last(retrying_server: InProcessServer):
    async with retrying_server.client() as client:
        job = await client.job("any").save()
        assert job.doc["retry"]["retries"] == 2 and job.doc["retry"]["wait"] == 5
        await client.set_type_retry("typed", {"retries": 7})
        assert (await client.job("typed").save()).doc["retry"]["retries"] == 7
        async with running_worker(client, "any", _boom):
            doc = await wait_for_doc(client, job.id, lambda d: len(d["failures"]) == 1)
            assert doc["status"] == "waiting"  # retried, though created without a policy


async def test_a_types_policy_of_no_retries_wins_over_the_servers(
    retrying_server: InProcessServer,
) -> None:
    """A type's ``{"retries": 0}`` is stored as ``{}`` (defaults left out): still a policy."""
    async with retrying_server.client() as client:
        await client.set_type_retry("once", {"retries": 0})
        job = await client.job("once").save()
    assert job.doc["retry"]["retries"] == 0


def test_the_server_default_retry_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "LIVEJOBS_DEFAULT_RETRY"
    monkeypatch.setenv(name, '{"retries": 3, "backoff": "exponential"}')
    assert Settings.load({}).default_retry == RetryPolicy(retries=3, backoff="exponential")
    for bad in ("{nope", '{"retries": -1}'):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match="default_retry"):
            Settings.load({})
