"""Security issue 20, items 2 and 3, over the WebSocket: a job's ``key`` belongs to its owner.

Two creators saving with the same key each get their own job: neither reads the other's job
through the key, nor replaces its data through ``debounce``.
"""

from __future__ import annotations

from typing import Any

from tests.servers import InProcessServer


async def _create(srv: InProcessServer, token: str, **spec: Any) -> dict[str, Any]:
    async with srv.client(token) as client:
        return dict(await client.call("jobs.create", {"type": "report", **spec}))


async def test_a_key_never_returns_another_owners_job(server: InProcessServer) -> None:
    ann = await server.token("creator", "ann")
    eve = await server.token("creator", "eve")
    anns = await _create(server, ann, key="payroll", data={"salary": 1}, delay=3600)
    eves = await _create(server, eve, key="payroll", data={"guess": 1}, delay=3600)
    assert eves["id"] != anns["id"] and eves["data"] == {"guess": 1} and eves["owner"] == "eve"
    again = await _create(server, ann, key="payroll", data={"salary": 2}, delay=3600)
    assert again["id"] == anns["id"]  # the owner's own key still holds
    assert again["key"] == "payroll"  # returned as it was given


async def test_debounce_never_writes_another_owners_job(server: InProcessServer) -> None:
    ann = await server.token("creator", "ann")
    eve = await server.token("creator", "eve")
    debounce = {"seconds": 600}
    anns = await _create(server, ann, key="sync", data="ann's", debounce=debounce)
    eves = await _create(server, eve, key="sync", data="eve's", debounce=debounce)
    assert eves["id"] != anns["id"] and eves["data"] == "eve's"
    async with server.client(ann) as client:
        assert (await client.call("jobs.get", {"id": anns["id"]}))["data"] == "ann's"
    # ann's own saves still debounce into her job
    merged = await _create(server, ann, key="sync", data="ann's newer", debounce=debounce)
    assert merged["id"] == anns["id"] and merged["data"] == "ann's newer"
    async with server.client(eve) as client:
        assert (await client.call("jobs.get", {"id": eves["id"]}))["data"] == "eve's"
