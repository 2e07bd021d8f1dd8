"""A create whose reply was lost, retried with its ``request_id``, makes one job: over raw
WebSocket frames and over HTTP (``Idempotency-Key``), as a client without the SDK sees it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import connect

from livejobs.store.base import Change
from tests.servers import InProcessServer


async def _connected(srv: InProcessServer, token: str) -> Any:
    ws = await connect(srv.ws_url)
    await ws.send(
        json.dumps({"msg": "call", "id": 0, "method": "auth", "params": {"token": token}})
    )
    assert json.loads(await ws.recv())["msg"] == "result"
    return ws


def _create_frame(request_id: str, n: int) -> str:
    params = {"type": "report", "data": {"n": n}, "request_id": request_id}
    return json.dumps({"msg": "call", "id": 1, "method": "jobs.create", "params": params})


async def _inserted(watcher: Any) -> str:
    while True:
        change: Change = await asyncio.wait_for(anext(watcher), 10)
        if change.op == "insert":
            return change.id


async def test_a_create_retried_over_the_websocket_after_a_lost_reply_makes_one_job(
    server: InProcessServer,
) -> None:
    ann = await server.token("creator", "ann")
    watcher = server.services.store.watch()
    try:
        ws = await _connected(server, ann)
        await ws.send(_create_frame("order-17", 1))
        first = await _inserted(watcher)  # stored; its reply is on the way
        ws.transport.abort()  # and never read: the connection is gone
    finally:
        await watcher.aclose()
    ws = await _connected(server, ann)
    try:
        await ws.send(_create_frame("order-17", 2))  # the retry, data and all
        reply = json.loads(await ws.recv())
    finally:
        await ws.close()
    assert reply["msg"] == "result" and reply["result"]["id"] == first
    assert reply["result"]["data"] == {"n": 1}  # the first answer, as stored
    assert await server.services.store.count({}) == 1
    # the same request id from another owner is another request
    bob = await server.token("creator", "bob")
    async with server.client(bob) as client:
        bobs = await client.call("jobs.create", {"type": "report", "request_id": "order-17"})
    assert bobs["id"] != first and await server.services.store.count({}) == 2


async def test_a_create_retried_over_http_with_an_idempotency_key_makes_one_job(
    server: InProcessServer,
) -> None:
    ann = await server.token("creator", "ann")
    body = json.dumps({"type": "report", "data": "x"}).encode()
    watcher = server.services.store.watch()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {ann}\r\nidempotency-key: job-1\r\n".encode()
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        first = await _inserted(watcher)
        writer.transport.abort()  # gone before reading the reply
    finally:
        await watcher.aclose()
    headers = {"authorization": f"Bearer {ann}", "idempotency-key": "job-1"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        again = await http.post("/api/jobs", json={"type": "report", "data": "x"})
        assert again.status_code == 201 and again.json()["result"]["id"] == first
        batch = [{"type": "report"}, {"type": "report"}]
        key = {"idempotency-key": "batch-1"}
        ids = (await http.post("/api/jobs/batch", json={"jobs": batch}, headers=key)).json()[
            "result"
        ]["ids"]
        retried = await http.post("/api/jobs/batch", json={"jobs": batch}, headers=key)
        assert retried.json()["result"]["ids"] == ids and len(set(ids)) == 2
        bad = await http.post(
            "/api/jobs", json={"type": "report"}, headers={"idempotency-key": "no spaces"}
        )
        assert bad.status_code == 400 and bad.json()["code"] == "invalid"
        assert "request_id" in bad.json()["detail"]
    assert await server.services.store.count({}) == 3


async def test_a_request_id_is_forgotten_after_request_id_seconds(
    clocked_server: InProcessServer,
) -> None:
    ann = await clocked_server.token("creator", "ann")
    async with clocked_server.client(ann) as client:
        params = {"type": "report", "request_id": "r", "delay": 10}
        first = await client.call("jobs.create", params)
        assert (await client.call("jobs.create", params))["id"] == first["id"]
        clocked_server.clock.advance(clocked_server.settings.request_id_seconds + 1)
        assert (await client.call("jobs.create", params))["id"] != first["id"]


async def test_a_body_request_id_that_differs_from_the_idempotency_key_is_refused(
    server: InProcessServer,
) -> None:
    """Found by schemathesis: the header replaced an invalid ``request_id`` in the body, and
    the create went through with a body the schema refuses."""
    ann = await server.token("creator", "ann")
    headers = {"authorization": f"Bearer {ann}", "idempotency-key": "job-1"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        for request_id in ("\u00d7", "job-2"):
            body = {"jobs": [{"type": "report"}], "request_id": request_id}
            refused = await http.post("/api/jobs/batch", json=body)
            assert refused.status_code == 400 and refused.json()["code"] == "invalid"
        same = await http.post("/api/jobs", json={"type": "report", "request_id": "job-1"})
        assert same.status_code == 201
    assert await server.services.store.count({}) == 1
