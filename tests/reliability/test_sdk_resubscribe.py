"""Subscriptions converge after reconnects that come one on another: when the connection drops
again while the client re-subscribes, each subscription ends up subscribed once on the
server, not once per reconnect (which doubled every event it got, and left a subscription
the client never closed)."""

from __future__ import annotations

import asyncio

import httpx

from livejobs_sdk import Client, Subscription
from tests.reliability.test_sdk_result_reconnect import ReplyCutter
from tests.servers import InProcessServer


async def subscriptions(server: InProcessServer) -> int:
    """The server's ``livejobs_subscriptions`` gauge (/metrics)."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        text = (await http.get("/metrics")).text
    (line,) = [line for line in text.splitlines() if line.startswith("livejobs_subscriptions ")]
    return int(float(line.split()[1]))


async def next_ready(sub: Subscription) -> None:
    while (await sub.next(10)).kind != "ready":
        pass


async def test_a_drop_while_re_subscribing_leaves_each_subscription_once(
    server: InProcessServer,
) -> None:
    proxy = ReplyCutter(server.port, armed=False)
    url = await proxy.start()
    try:
        async with Client(url, server.admin_token) as client:
            subs = [client.subscribe({"type": kind}) for kind in ("first", "second")]
            for sub in subs:
                await next_ready(sub)
            assert await subscriptions(server) == 2
            proxy.armed = True  # the second drop: in place of the first re-subscribe's reply
            proxy.cut_all()
            await asyncio.wait_for(proxy.cut.wait(), 10)
            for sub in subs:
                await next_ready(sub)
            assert await client.counts() is not None  # a round trip after the re-subscribes
            assert await subscriptions(server) == 2
    finally:
        await proxy.close()


async def test_a_subscription_started_from_two_tasks_at_once_is_open_once(
    server: InProcessServer,
) -> None:
    async with server.client() as client:
        await client.job("both").save()
        sub = client.subscribe({"type": "both"})
        first, second = await asyncio.gather(sub.next(10), sub.next(10))  # each starts it
        assert sorted([first.kind, second.kind]) == ["added", "ready"]
        assert await subscriptions(server) == 1
        await sub.close()
        assert await subscriptions(server) == 0
