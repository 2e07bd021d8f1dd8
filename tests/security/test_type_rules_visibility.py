"""A type's rules are seen by whoever may see its jobs: a worker limited to some types reads
and is pushed those types' rules only, and a declarative rule hiding a type's jobs from a role
hides its rules too (``types.list``, ``types.watch`` and its pushes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from livejobs_sdk import Client
from tests.servers import InProcessServer

NO_PAYROLL_FOR_MANAGERS = {"deny": [{"role": "manager", "method": "jobs.get", "type": "payroll"}]}


async def _call(raw: Any, call_id: int, method: str, params: dict[str, Any]) -> Any:
    await raw.send(json.dumps({"msg": "call", "id": call_id, "method": method, "params": params}))
    while True:
        frame = json.loads(await asyncio.wait_for(raw.recv(), 10))
        if frame.get("id") == call_id:
            assert frame["msg"] == "result", frame
            return frame["result"]


async def _pushed(raw: Any) -> list[str]:
    while True:
        frame = json.loads(await asyncio.wait_for(raw.recv(), 10))
        if frame.get("msg") == "types":
            return sorted(rule["type"] for rule in frame["types"])


async def _types_seen(srv: InProcessServer, token: str) -> dict[str, list[str]]:
    """The types whose rules ``token`` lists, watches, and is pushed after a change."""
    async with Client(srv.ws_url, token=token) as client:
        listed = sorted(rule["type"] for rule in await client.types())
    async with websockets.connect(srv.ws_url) as raw, srv.client() as admin:
        await _call(raw, 1, "auth", {"token": token})
        watched = sorted(rule["type"] for rule in await _call(raw, 2, "types.watch", {}))
        await admin.set_type_limits("payroll", concurrency=2)
        pushed = await _pushed(raw)
    return {"list": listed, "watch": watched, "pushed": pushed}


async def _with_rules(srv: InProcessServer) -> None:
    async with srv.client() as admin:
        for job_type in ("mail", "payroll"):
            await admin.pause_type(job_type)


async def test_a_worker_limited_to_types_sees_only_their_rules(tmp_path: Any) -> None:
    srv = InProcessServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        await _with_rules(srv)
        mailer = await srv.token("worker", "mailer", types=["mail"])
        assert await _types_seen(srv, mailer) == {
            "list": ["mail"],
            "watch": ["mail"],
            "pushed": ["mail"],
        }
        everyone = await srv.token("worker", "any")  # a worker of every type sees every type
        assert (await _types_seen(srv, everyone))["pushed"] == ["mail", "payroll"]
    finally:
        await srv.stop()


async def test_a_rule_hiding_a_types_jobs_hides_its_rules(tmp_path: Any) -> None:
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": NO_PAYROLL_FOR_MANAGERS})
    await srv.start()
    try:
        await _with_rules(srv)
        mia = await srv.token("manager", "mia")
        only_mail = {"list": ["mail"], "watch": ["mail"], "pushed": ["mail"]}
        assert await _types_seen(srv, mia) == only_mail
        admin = await _types_seen(srv, srv.admin_token)  # the rule names managers only
        assert admin["list"] == ["mail", "payroll"]
    finally:
        await srv.stop()


async def test_obliterating_a_hidden_type_reveals_none_of_its_jobs(tmp_path: Any) -> None:
    """``types.obliterate`` answers how many jobs it kept: only those the caller may read, so
    a manager a rule keeps from a type learns neither its jobs nor how many there are."""
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": NO_PAYROLL_FOR_MANAGERS})
    await srv.start()
    try:
        async with srv.client() as admin:
            await admin.call("jobs.create_many", {"jobs": [{"type": "payroll"}] * 7})
        mia = await srv.token("manager", "mia")
        async with srv.client(mia) as manager:
            answer = await manager.call("types.obliterate", {"type": "payroll"})
        assert answer == {"cancelled": 0, "removed": 0, "kept": 0}
        async with srv.client() as admin:
            left = await admin.call("jobs.find", {"filter": {"type": "payroll"}})
            assert [job["status"] for job in left] == ["ready"] * 7
            paused = {t["type"]: t["paused"] for t in await admin.call("types.list")}
            assert not paused.get("payroll")
    finally:
        await srv.stop()
