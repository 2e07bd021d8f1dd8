"""Security issue 20, item 11: a worker's id is bound to its user by the server, so a job
``target``ed at one worker cannot be taken by another that sends the same id.

Worker ids read ``<user>/<name>``: a name without ``/`` is prefixed with the caller's user, one
naming another user is refused, over WebSocket (``worker.start``, ``jobs.claim``) and HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import websockets

from livejobs_sdk import CallError, Client
from tests.servers import InProcessServer


async def _targeted(srv: InProcessServer, target: str) -> str:
    async with srv.client() as admin:
        job = await admin.call(
            "jobs.create", {"type": "payroll", "target": target, "private": {"iban": "secret"}}
        )
        return str(job["id"])


async def test_a_worker_cannot_start_under_another_users_id(server: InProcessServer) -> None:
    await server.token("worker", "alice")
    mallory = await server.token("worker", "mallory")
    await _targeted(server, "alice/w1")
    async with websockets.connect(server.ws_url) as ws:
        auth = {"token": mallory}
        await ws.send(json.dumps({"msg": "call", "id": 1, "method": "auth", "params": auth}))
        await ws.recv()
        start = {"types": ["payroll"], "worker_id": "alice/w1"}
        await ws.send(
            json.dumps({"msg": "call", "id": 2, "method": "worker.start", "params": start})
        )
        reply = json.loads(await ws.recv())
        assert reply["error"]["code"] == "forbidden" and "alice/w1" in reply["error"]["message"]
        # a plain name is taken as the caller's own
        start["worker_id"] = "w1"
        await ws.send(
            json.dumps({"msg": "call", "id": 3, "method": "worker.start", "params": start})
        )
        assert json.loads(await ws.recv())["result"] == {"worker_id": "mallory/w1"}


async def test_the_targeted_job_goes_only_to_its_worker_over_ws(server: InProcessServer) -> None:
    alice = await server.token("worker", "alice")
    mallory = await server.token("worker", "mallory")
    job_id = await _targeted(server, "alice/w1")
    claim: dict[str, Any] = {"types": ["payroll"], "worker_id": "alice/w1"}
    async with Client(server.ws_url, token=mallory) as client:
        try:
            got = await client.call("jobs.claim", claim)
        except CallError as exc:
            assert exc.code == "forbidden"
        else:
            raise AssertionError(f"mallory claimed as alice/w1: {got}")
        assert await client.call("jobs.claim", {**claim, "worker_id": "w1"}) == []
    async with Client(server.ws_url, token=alice) as client:
        got = await client.call("jobs.claim", {**claim, "worker_id": "w1"})  # = alice/w1
        assert [j["id"] for j in got] == [job_id] and got[0]["worker"] == "alice/w1"


async def test_the_targeted_job_goes_only_to_its_worker_over_http(server: InProcessServer) -> None:
    alice = await server.token("worker", "alice")
    mallory = await server.token("worker", "mallory")
    job_id = await _targeted(server, "alice/w1")
    body = {"types": ["payroll"], "worker_id": "alice/w1"}
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        stolen = await http.post(
            "/api/claim", json=body, headers={"Authorization": f"Bearer {mallory}"}
        )
        assert stolen.status_code == 403 and stolen.json()["code"] == "forbidden"
        own = await http.post("/api/claim", json=body, headers={"Authorization": f"Bearer {alice}"})
        assert own.status_code == 200 and [j["id"] for j in own.json()["result"]] == [job_id]


async def test_a_user_name_cannot_contain_a_slash(server: InProcessServer) -> None:
    async with server.client() as admin:
        try:
            await admin.call("users.add", {"name": "alice/w1", "role": "worker"})
        except CallError as exc:
            assert exc.code == "invalid" and "/" in exc.message
        else:
            raise AssertionError("a user named alice/w1 could pass as alice's worker")
