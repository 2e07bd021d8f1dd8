"""Security issue 20, item 10: a repeat that never fires, or fires more often than
``min_repeat_seconds``, is ``invalid`` at create over WebSocket and HTTP, saying why; nothing is
stored. (``0 0 31 2 *`` answered an internal error; with a delay it was stored and its
dependants waited forever.) A time zone that names a folder of the zone database (``Europe``)
answered an internal error too; it is ``invalid`` as any unknown zone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livejobs_sdk.errors import CallError
from tests.servers import InProcessServer

BAD = [
    ({"cron": "0 0 31 2 *"}, "never fires"),
    ({"cron": "0 0 31 2 *"}, "never fires"),  # with a delay below
    ({"cron": "* * * * * *"}, "at most once per 5s"),  # every second, with seconds
    ({"every": 0.5}, "at most once per 5s"),
    # a folder of the time zone database, not a zone: an internal error naming a server path
    ({"every": 60, "tz": "Europe"}, "unknown time zone 'Europe'"),
    ({"cron": "0 9 * * *", "tz": "America"}, "unknown time zone 'America'"),
]


@pytest.fixture
async def floored(tmp_path):
    srv = InProcessServer(tmp_path / "jobs.db", min_repeat_seconds=5.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _spec(n: int, repeat: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "tick", "repeat": repeat}
    if n == 1:
        spec["delay"] = 60
    return spec


async def _stored(srv: InProcessServer) -> int:
    async with srv.client() as admin:
        return len(await admin.call("jobs.find", {"filter": {"type": "tick"}}))


async def test_bad_schedules_are_invalid_over_the_websocket(floored: InProcessServer) -> None:
    async with floored.client() as admin:
        for n, (repeat, why) in enumerate(BAD):
            with pytest.raises(CallError) as refused:
                await admin.call("jobs.create", _spec(n, repeat))
            assert refused.value.code == "invalid" and why in str(refused.value), repeat
        ok = await admin.call("jobs.create", {"type": "tick", "repeat": {"cron": "* * * * * */10"}})
        assert ok["repeat"]["cron"] == "* * * * * */10"
    assert await _stored(floored) == 1


async def test_bad_schedules_are_invalid_over_http(floored: InProcessServer) -> None:
    headers = {"authorization": f"Bearer {floored.admin_token}"}
    async with httpx.AsyncClient(base_url=floored.http_url, headers=headers) as http:
        for n, (repeat, why) in enumerate(BAD):
            reply = await http.post("/api/jobs", json=_spec(n, repeat))
            assert reply.status_code == 400, reply.text
            problem = reply.json()
            assert problem["code"] == "invalid" and why in problem["detail"]
    assert await _stored(floored) == 0
