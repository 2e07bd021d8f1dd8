"""docs/protocol.md is enough to write a worker: these use raw ``websockets`` and ``httpx`` and
only the messages the document shows — no SDK anywhere."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from livejobs.edges.http_api import JOB_ACTIONS
from livejobs.methods import METHODS
from tests.servers import ROOT


class Raw:
    """A bare WebSocket speaking the documented frames: calls by id, pushed frames queued."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.pushed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            frame = json.loads(text)
            if frame["msg"] in ("result", "error") and frame["id"] in self.replies:
                self.replies.pop(frame["id"]).set_result(frame)
            else:
                await self.pushed.put(frame)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        call_id = f"c{self.next_id}"  # ids may be strings or integers
        reply = self.replies[call_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(
            json.dumps({"msg": "call", "id": call_id, "method": method, "params": params})
        )
        frame = await asyncio.wait_for(reply, 10)
        if frame["msg"] == "error":
            raise AssertionError(frame["error"])
        return frame["result"]

    async def next_push(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(self.pushed.get(), 10)
            if frame["msg"] == kind:
                return frame


async def open_raw(url: str, token: str) -> Raw:
    ws = await connect(url)
    await ws.send(
        json.dumps({"msg": "call", "id": 0, "method": "auth", "params": {"token": token}})
    )
    reply = json.loads(await ws.recv())
    assert reply["msg"] == "result" and reply["id"] == 0, reply
    assert "worker.start" in reply["result"]["methods"]
    return Raw(ws)


async def test_a_websocket_worker_from_the_document_alone(live_server):
    token = await live_server.token("worker", "raw-worker")
    producer = await open_raw(live_server.ws_url, live_server.admin_token)
    worker = await open_raw(live_server.ws_url, token)
    try:
        sub = (await producer.call("subscribe", {"filter": {"type": "resize"}}))["sub"]
        assert await producer.next_push("ready") == {"msg": "ready", "sub": sub}

        started = await worker.call("worker.start", {"types": ["resize"], "concurrency": 1})
        assert started["worker_id"]
        job = await producer.call("jobs.create", {"type": "resize", "data": {"w": 640}})
        added = await producer.next_push("added")
        assert added["sub"] == sub and added["doc"]["id"] == job["id"]

        pushed = (await worker.next_push("job"))["job"]
        assert pushed["id"] == job["id"] and pushed["status"] == "running"
        lease = pushed["lease"]["token"]
        ref = {"id": pushed["id"], "lease": lease}
        expires = (await worker.call("jobs.heartbeat", ref))["expires"]
        assert expires > pushed["started"]
        assert await worker.call("jobs.log", {**ref, "message": "resizing", "level": "info"})
        assert await worker.call("jobs.progress", {**ref, "completed": 1, "total": 2})
        assert await worker.call("jobs.done", {**ref, "result": {"w": pushed["data"]["w"] // 2}})

        while True:  # the subscriber sees every step, ending with the completed document
            changed = await producer.next_push("changed")
            if changed["doc"]["status"] == "completed":
                break
        doc = changed["doc"]
        assert doc["result"] == {"w": 320} and doc["progress"]["percent"] == 100.0
        assert [e["message"] for e in doc["log"] if e["message"] == "resizing"] == ["resizing"]
        assert await worker.call("worker.stop", {}) is True
        assert await producer.call("unsubscribe", {"sub": sub}) is True
    finally:
        for raw in (producer, worker):
            await raw.ws.close()
            await raw.reader


async def test_a_failing_job_is_retried_and_cancel_is_pushed(live_server):
    producer = await open_raw(live_server.ws_url, live_server.admin_token)
    worker = await open_raw(live_server.ws_url, live_server.admin_token)
    try:
        await worker.call("worker.start", {"types": ["flaky"], "concurrency": 2})
        job = await producer.call("jobs.create", {"type": "flaky", "retry": {"retries": 1}})
        first = (await worker.next_push("job"))["job"]
        assert await worker.call(
            "jobs.fail",
            {
                "id": first["id"],
                "lease": first["lease"]["token"],
                "error": {"message": "try again"},
            },
        )
        second = (await worker.next_push("job"))["job"]
        assert second["id"] == job["id"] and second["attempts"] == 2
        await producer.call("jobs.cancel", {"id": job["id"]})
        assert await worker.next_push("cancel") == {"msg": "cancel", "id": job["id"]}
        doc = await producer.call("jobs.get", {"id": job["id"]})
        assert doc["status"] == "cancelled" and doc["failures"][0]["error"] == {
            "message": "try again"
        }
    finally:
        for raw in (producer, worker):
            await raw.ws.close()
            await raw.reader


async def test_an_http_worker_from_the_document_alone(live_server):
    token = await live_server.token("worker", "http-worker")
    async with httpx.AsyncClient(base_url=live_server.http_url) as http:
        admin = {"Authorization": f"Bearer {live_server.admin_token}"}
        mine = {"Authorization": f"Bearer {token}"}
        created = await http.post("/api/jobs", json={"type": "pdf", "data": [1, 2]}, headers=admin)
        assert created.status_code == 201
        claimed = await http.post("/api/claim", json={"types": ["pdf"], "limit": 5}, headers=mine)
        assert claimed.status_code == 200
        [job] = claimed.json()["result"]
        lease = job["lease"]["token"]
        path = f"/api/jobs/{job['id']}"
        assert (
            await http.post(
                f"{path}/progress", json={"lease": lease, "completed": 1, "total": 1}, headers=mine
            )
        ).json() == {"result": True}
        assert (
            await http.post(f"{path}/done", json={"lease": lease, "result": 3}, headers=mine)
        ).json() == {"result": True}
        doc = (await http.get(path, headers=mine)).json()["result"]
        assert doc["status"] == "completed" and doc["result"] == 3
        wrong = await http.post(f"{path}/done", json={"lease": lease}, headers=mine)
        assert wrong.status_code == 409 and wrong.json()["code"] == "conflict"
        any_method = await http.post(
            "/api/call/jobs.counts", json={"filter": {"type": "pdf"}}, headers=mine
        )
        assert any_method.json() == {"result": {"status": {"completed": 1}, "type": {"pdf": 1}}}
        anonymous = await http.get(path)
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == "unauthenticated"


def test_the_document_names_every_method_and_action():
    """The contract cannot silently fall behind the method table."""
    text = (ROOT / "docs" / "protocol.md").read_text()
    assert [name for name in METHODS if f"`{name}`" not in text] == []
    assert [a for a in JOB_ACTIONS if f"`{a}`" not in text] == []
