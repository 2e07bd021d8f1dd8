"""Security issue 20, item 9: a job document has a bounded size whatever its workers send:
log entries are counted (the oldest dropped, with a note saying how many) and cut, failures'
errors are cut with a marker, results over ``max_data_bytes`` are refused (one job reached
36 MB through ``log``, ``fail`` and results)."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from livejobs.jobs.bounds import MAX_FAILURES
from livejobs_sdk.errors import CallError
from tests.servers import InProcessServer

ENTRIES = 40
BIG = "y" * 400_000


def bound(srv: InProcessServer) -> int:
    """The documented bound: data and result, the kept log entries and failures, and room for
    the fixed fields (docs/security.md, "Limits")."""
    s = srv.settings
    entries = s.max_log_entries * (s.max_log_entry_bytes + 300)
    failures = MAX_FAILURES * (s.max_error_bytes + 300)
    return 3 * s.max_data_bytes + entries + failures + 8192


@pytest.fixture
async def small(tmp_path):
    srv = InProcessServer(tmp_path / "jobs.db", max_log_entries=ENTRIES)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _check(srv: InProcessServer, doc: dict[str, Any], logged: int) -> None:
    assert len(msgspec.json.encode(doc)) < bound(srv)
    log = doc["log"]
    # a claim, applied by the store, adds its entry before the next change trims again
    assert len(log) <= ENTRIES + 1 and log[0]["message"] == "created"
    assert log[1]["data"]["dropped"] >= logged - ENTRIES
    assert "older log entries dropped" in log[1]["message"]
    assert all(len(e["message"]) <= srv.settings.max_log_entry_bytes for e in log)
    assert len(doc["failures"]) <= MAX_FAILURES
    for failure in doc["failures"]:
        assert len(msgspec.json.encode(failure["error"])) <= srv.settings.max_error_bytes
    assert "truncated" in str(doc["failures"][-1]["error"])


async def test_logs_and_errors_leave_a_bounded_document_over_the_websocket(
    small: InProcessServer,
) -> None:
    async with small.client() as admin:
        job = await admin.call("jobs.create", {"type": "chatty", "retry": {"retries": 100}})
        for n in range(2000):
            await admin.call("jobs.log", {"id": job["id"], "message": f"line {n}"})
        await admin.call("jobs.log", {"id": job["id"], "message": BIG[:9000], "data": BIG})
        for _ in range(MAX_FAILURES + 5):
            [claimed] = await admin.call("jobs.claim", {"types": ["chatty"]})
            error = {"message": BIG, "type": "Boom", "traceback": BIG}
            await admin.call(
                "jobs.fail", {"id": job["id"], "lease": claimed["lease"]["token"], "error": error}
            )
        [claimed] = await admin.call("jobs.claim", {"types": ["chatty"]})
        with pytest.raises(CallError) as refused:
            result = {"r": "z" * (small.settings.max_data_bytes + 1)}
            token = claimed["lease"]["token"]
            await admin.call("jobs.done", {"id": job["id"], "lease": token, "result": result})
        assert refused.value.code == "too_large"
        _check(small, await admin.call("jobs.get", {"id": job["id"]}), 2000)


async def test_logs_and_errors_leave_a_bounded_document_over_http(small: InProcessServer) -> None:
    headers = {"authorization": f"Bearer {small.admin_token}"}
    async with httpx.AsyncClient(base_url=small.http_url, headers=headers) as http:
        job = (
            await http.post("/api/jobs", json={"type": "chatty", "retry": {"retries": 5}})
        ).json()["result"]
        for n in range(200):
            assert (
                await http.post(f"/api/jobs/{job['id']}/log", json={"message": f"{n}"})
            ).is_success
        [claimed] = (await http.post("/api/claim", json={"types": ["chatty"]})).json()["result"]
        fail = {"lease": claimed["lease"]["token"], "error": BIG}
        assert (await http.post(f"/api/jobs/{job['id']}/fail", json=fail)).is_success
        _check(small, (await http.get(f"/api/jobs/{job['id']}")).json()["result"], 200)
