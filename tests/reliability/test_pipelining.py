"""Calls about one job, pipelined on one connection without waiting for replies, apply in the
order sent (docs/protocol.md, "Order"): on the old code each call ran as its own task, and a
``jobs.log`` sent before ``jobs.done`` was refused with ``conflict`` in about 2 runs of 5."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

JOBS = 60


def _calls(job: dict[str, Any]) -> list[dict[str, Any]]:
    ref = {"id": job["id"], "lease": job["lease"]["token"]}
    steps = [
        ("jobs.log", {**ref, "message": "step 1"}),
        ("jobs.progress", {**ref, "completed": 1, "total": 1}),
        ("jobs.log", {**ref, "message": "step 2"}),
        ("jobs.done", {**ref, "result": {"ok": True}}),
    ]
    return [
        {"msg": "call", "id": f"{job['id']}-{n}", "method": method, "params": params}
        for n, (method, params) in enumerate(steps)
    ]


@pytest.mark.parametrize("framing", ["frames", "array"])
async def test_pipelined_reports_about_one_job_apply_in_order(server, framing):
    async with server.client() as client, connect(server.ws_url) as ws:
        auth = {"msg": "call", "id": 0, "method": "auth", "params": {"token": server.admin_token}}
        await ws.send(json.dumps(auth))
        await ws.send(
            json.dumps(
                {
                    "msg": "call",
                    "id": 1,
                    "method": "worker.start",
                    "params": {"types": ["piped"], "concurrency": 8},
                }
            )
        )
        await client.create_many([client.job("piped", {"n": n}) for n in range(JOBS)])
        replies: dict[str, dict[str, Any]] = {}

        async def run() -> None:
            async for text in ws:
                loaded = json.loads(text)
                for frame in loaded if isinstance(loaded, list) else [loaded]:
                    if frame["msg"] == "job":
                        calls = _calls(frame["job"])
                        if framing == "array":
                            await ws.send(json.dumps(calls))
                        else:
                            for call in calls:  # separate frames, no reply awaited
                                await ws.send(json.dumps(call))
                    elif frame["msg"] in ("result", "error") and isinstance(frame["id"], str):
                        replies[frame["id"]] = frame
                if len(replies) == JOBS * 4:
                    return

        await asyncio.wait_for(run(), 30)
    errors = [r for r in replies.values() if r["msg"] == "error"]
    assert errors == []
    docs = await _all(server)
    assert len(docs) == JOBS
    for doc in docs:
        assert doc["status"] == "completed" and doc["result"] == {"ok": True}
        messages = [e["message"] for e in doc["log"] if e["message"].startswith("step")]
        assert messages == ["step 1", "step 2"] and doc["progress"]["percent"] == 100.0


async def _all(server) -> list[dict[str, Any]]:
    async with server.client() as client:
        return await client.find({"type": "piped"}, limit=JOBS * 2)
