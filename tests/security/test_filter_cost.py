"""Security issue 20, item 8: live filters are evaluated on every change, so what one
subscription, one connection and one user (across its connections) may make the server
evaluate is bounded (one creator with 2 connections × 100 large filters took ``jobs.create``
from 1 ms to 452 ms)."""

from __future__ import annotations

import pytest

from livejobs_sdk.errors import CallError
from tests.servers import InProcessServer


def _large(n: int, size: int = 900) -> dict[str, object]:
    """A distinct filter (no shared group) costing ``size + 3`` steps per change."""
    return {"data.n": {"$in": list(range(n * size, (n + 1) * size))}}


async def _subscribe_all(client, start: int, count: int) -> tuple[int, list[CallError]]:
    accepted, refused = 0, []
    for n in range(start, start + count):
        try:
            await client.call("subscribe", {"filter": _large(n)})
            accepted += 1
        except CallError as exc:
            refused.append(exc)
    return accepted, refused


async def test_large_filters_are_refused_past_the_budgets(server: InProcessServer) -> None:
    settings = server.settings
    creator = await server.token("creator", "mallory")
    async with (
        server.client(creator) as one,
        server.client(creator) as two,
        server.client(creator) as three,
    ):
        first, refused_one = await _subscribe_all(one, 0, 100)
        second, refused_two = await _subscribe_all(two, 100, 100)
        per_sub = 903
        assert first == settings.max_filter_cost_per_connection // per_sub
        assert first + second == settings.max_filter_cost_per_user // per_sub
        assert {e.code for e in refused_one + refused_two} == {"rate_limited"}
        assert "this connection's filters" in refused_one[0].message
        # a third connection has its own connection budget, not more of the user's
        third, refused_three = await _subscribe_all(three, 200, 1)
        assert third == 0 and "across its connections" in refused_three[0].message
        with pytest.raises(CallError) as too_costly:
            await one.call("subscribe", {"filter": _large(0, 1000)})
        assert too_costly.value.code == "too_large"
        # within the budget the server still works for everyone
        job = await one.call("jobs.create", {"type": "t", "data": {"n": 5}})
        assert job["status"] == "ready"
        assert len(server.services.subscriptions) == first + second
    assert server.services.subscriptions.used("mallory") == (0, 0)  # released on close
    async with server.client(creator) as again:
        assert (await _subscribe_all(again, 0, 2))[0] == 2


async def test_one_filter_shared_by_many_connections_is_charged_once(
    server: InProcessServer,
) -> None:
    """Clients sharing an identity and a filter (a dashboard) cost one evaluation per change."""
    creator = await server.token("creator", "dashboard")
    clients = [server.client(creator) for _ in range(6)]
    for client in clients:
        await client.connect()
    try:
        for client in clients:
            assert (await _subscribe_all(client, 0, 1))[0] == 1
        assert server.services.subscriptions.used("dashboard") == (6, 903)
    finally:
        for client in clients:
            await client.close()
