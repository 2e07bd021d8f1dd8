"""Protocol and API versions as a client sees them: the ``auth`` reply names the version, a
client asking for one the server does not speak is refused and disconnected, the SDK says
so, and the HTTP API and /openapi.json carry the versions too."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from livejobs.protocol import API_VERSION, PROTOCOL_VERSION, SUPPORTED_PROTOCOLS
from livejobs.state import state_of
from livejobs_sdk import CallError, Client, UnsupportedVersion
from livejobs_sdk import connection as sdk_connection


async def auth(ws: ClientConnection, token: str, **params: Any) -> dict[str, Any]:
    call = {"msg": "call", "id": 0, "method": "auth", "params": {"token": token, **params}}
    await ws.send(json.dumps(call))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def test_the_auth_reply_names_the_protocol_version(server):
    async with connect(server.ws_url) as ws:
        reply = await auth(ws, server.admin_token)
    assert reply["result"]["protocol"] == PROTOCOL_VERSION == 1
    assert reply["result"]["protocols"] == list(SUPPORTED_PROTOCOLS)


async def test_a_client_asking_for_a_version_spoken_is_served(server):
    async with connect(server.ws_url) as ws:
        reply = await auth(ws, server.admin_token, protocol=PROTOCOL_VERSION)
        assert reply["result"]["protocol"] == PROTOCOL_VERSION
        call = {"msg": "call", "id": 1, "method": "jobs.counts", "params": {}}
        await ws.send(json.dumps(call))
        assert json.loads(await ws.recv())["msg"] == "result"


async def test_an_unknown_version_is_refused_and_the_connection_closed(server):
    async with connect(server.ws_url) as ws:
        reply = await auth(ws, server.admin_token, protocol=999)
        assert reply["msg"] == "error" and reply["id"] == 0
        assert reply["error"]["code"] == "unsupported_version"
        assert "999" in reply["error"]["message"]
        assert f"speaks {PROTOCOL_VERSION}" in reply["error"]["message"]
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1008 and ws.close_reason == "unsupported protocol version"


async def test_a_malformed_version_is_invalid_and_the_socket_stays_open(server):
    async with connect(server.ws_url) as ws:
        reply = await auth(ws, server.admin_token, protocol="one")
        assert reply["error"]["code"] == "invalid"
        assert (await auth(ws, server.admin_token))["result"]["user"] == "admin"


async def test_the_sdk_sends_its_version_and_learns_the_servers(server):
    async with server.client() as client:
        assert client.identity["protocol"] == PROTOCOL_VERSION


async def test_the_sdk_says_when_the_server_does_not_speak_its_version(server, monkeypatch):
    monkeypatch.setattr(sdk_connection, "PROTOCOL_VERSION", 999)
    client = server.client()
    with pytest.raises(UnsupportedVersion) as refused:
        await client.connect()
    assert isinstance(refused.value, CallError) and refused.value.code == "unsupported_version"
    assert refused.value.protocol == 999 and "999" in refused.value.message
    await client.close()


async def test_a_reconnect_refused_for_its_version_fails_waiting_calls_at_once(server):
    async with server.client() as client:
        client._conn.protocol = 999  # as if the server came back speaking another version
        for session in list(state_of(server.app).sessions):
            session.close("server shutting down")
        with pytest.raises(UnsupportedVersion):
            await client.call("jobs.counts", {}, timeout=10)


async def test_http_answers_carry_the_protocol_version(server):
    headers = {"authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        created = await http.post("/api/jobs", json={"type": "v"})
        assert created.status_code == 201
        missing = await http.get("/api/jobs/nope")
        assert missing.status_code == 404
        for answer in (created, missing, await http.get("/healthz")):
            assert answer.headers["livejobs-protocol"] == str(PROTOCOL_VERSION)
        spoken = await http.get("/api/jobs", headers={"livejobs-protocol": "1"})
        assert spoken.status_code == 200
        refused = await http.post(
            "/api/jobs", json={"type": "v"}, headers={"livejobs-protocol": "999"}
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "unsupported_version"
        assert "999" in refused.json()["detail"]
        assert (
            len((await http.get("/api/jobs")).json()["result"]) == 1
        )  # the refused create made nothing


async def test_openapi_carries_the_api_and_protocol_versions(server):
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["info"]["version"] == API_VERSION
    assert document["info"]["x-protocol-version"] == PROTOCOL_VERSION
    assert document["info"]["x-protocol-versions"] == list(SUPPORTED_PROTOCOLS)


async def test_the_sdk_still_talks_to_a_server_without_versions():
    """A 0.1.0 server refuses unknown params: the SDK authenticates again without
    ``protocol``, and sends no ``request_id`` that server would refuse too."""
    received: list[dict[str, Any]] = []

    async def release_0_1_0(ws: ServerConnection) -> None:
        async for text in ws:
            call = json.loads(text)
            received.append(call)
            unknown = {"protocol", "request_id"} & set(call["params"])
            if unknown:
                message = f"bad params: Object contains unknown field `{unknown.pop()}`"
                reply = {
                    "msg": "error",
                    "id": call["id"],
                    "error": {"code": "invalid", "message": message},
                }
            elif call["method"] == "auth":
                reply = {
                    "msg": "result",
                    "id": 0,
                    "result": {"user": "admin", "role": "admin", "methods": []},
                }
            else:
                reply = {"msg": "result", "id": call["id"], "result": {"id": "j1", "type": "t"}}
            await ws.send(json.dumps(reply))

    async with serve(release_0_1_0, "127.0.0.1", 0) as stub:
        port = stub.sockets[0].getsockname()[1]
        async with Client(f"ws://127.0.0.1:{port}", token="t") as client:
            assert "protocol" not in client.identity
            job = await client.job("t").save()
    assert job.id == "j1"
    assert [c["params"].get("protocol") for c in received[:2]] == [PROTOCOL_VERSION, None]
    assert "request_id" not in received[2]["params"]
