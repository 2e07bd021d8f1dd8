"""Security issue 20, item 14: authentication attempts back off, per connection and per address.

A WebSocket is closed after ``auth_connection_failures`` (3) failed ``auth`` calls; an address
gets ``auth_free_failures`` (5) wrong tokens, then every attempt from it, WebSocket or HTTP, is
refused with ``rate_limited`` for a back-off that doubles with each further failure. A right
token works again once the back-off has passed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from livejobs.auth_limit import AuthLimiter
from livejobs.clock import ManualClock
from livejobs.errors import RateLimited
from tests.servers import ADMIN_TOKEN, InProcessServer

WRONG = "lj_nosuch_0123456789abcdef0123456789abcdef"


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[InProcessServer]:
    """A back-off long enough that a slow machine cannot outlast it within a test."""
    srv = InProcessServer(tmp_path / "jobs.db", auth_backoff_seconds=30.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _auth(token: str, call_id: int = 1) -> str:
    return json.dumps({"msg": "call", "id": call_id, "method": "auth", "params": {"token": token}})


async def _ws_auth(srv: InProcessServer, token: str) -> dict[str, Any]:
    async with websockets.connect(srv.ws_url) as ws:
        await ws.send(_auth(token))
        return dict(json.loads(await ws.recv()))


async def _http(srv: InProcessServer, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        return await http.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})


async def test_one_socket_cannot_try_a_thousand_tokens(server: InProcessServer) -> None:
    codes: list[str] = []
    async with websockets.connect(server.ws_url) as ws:
        try:
            for i in range(1000):
                await ws.send(_auth(WRONG, i))
        except websockets.ConnectionClosed:
            pass
        try:
            async for message in ws:
                codes.append(json.loads(message)["error"]["code"])
        except websockets.ConnectionClosed:
            pass
        assert (ws.close_code, ws.close_reason) == (1008, "too many failed authentications")
    assert codes == ["unauthenticated"] * 3


async def test_many_sockets_from_one_address_back_off(server: InProcessServer) -> None:
    codes = [(await _ws_auth(server, WRONG))["error"]["code"] for _ in range(40)]
    assert codes[:5] == ["unauthenticated"] * 5
    assert set(codes[5:]) == {"rate_limited"}  # not one more token was even looked up
    refused = await _ws_auth(server, ADMIN_TOKEN)  # a right token waits out the back-off too
    assert refused["error"]["code"] == "rate_limited" and "retry in" in refused["error"]["message"]


async def test_http_bearer_tokens_back_off(server: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        headers = {"Authorization": f"Bearer {WRONG}"}
        statuses = [(await http.get("/api/jobs", headers=headers)).status_code for _ in range(40)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    assert (await _http(server, ADMIN_TOKEN)).json()["code"] == "rate_limited"
    # the edges share one count: the WebSocket is backing off too
    assert (await _ws_auth(server, WRONG))["error"]["code"] == "rate_limited"


async def test_a_right_token_works_after_the_back_off(clocked_server: InProcessServer) -> None:
    srv = clocked_server
    for _ in range(5):
        assert (await _http(srv, WRONG)).status_code == 401
    assert (await _http(srv, ADMIN_TOKEN)).status_code == 429
    srv.clock.advance(srv.settings.auth_backoff_seconds + 0.01)
    assert (await _http(srv, ADMIN_TOKEN)).status_code == 200
    assert "result" in await _ws_auth(srv, ADMIN_TOKEN)


def test_each_failure_past_the_free_ones_doubles_the_wait_up_to_the_most() -> None:
    clock = ManualClock()
    limiter = AuthLimiter(clock, free=2, base=1.0, most=8.0)
    waits = []
    for _ in range(7):
        limiter.failed("10.0.0.1")
        blocked = 0.0
        while True:
            try:
                limiter.check("10.0.0.1")
                break
            except RateLimited:
                clock.advance(0.5)
                blocked += 0.5
        waits.append(blocked)
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    limiter.check("10.0.0.2")  # another address is not held up
    clock.advance(8.01)  # quiet for `most` after the last back-off: forgotten
    limiter.failed("10.0.0.1")
    limiter.check("10.0.0.1")


@pytest.mark.parametrize("name", ["auth_free_failures", "auth_connection_failures"])
def test_the_thresholds_are_settings_with_bounds(name: str) -> None:
    from livejobs.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=name):
        Settings.load({name: 0})
