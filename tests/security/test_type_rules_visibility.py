"""A type's rules are seen by whoever may see its jobs: a worker limited to some types reads
and is pushed those types' rules only, and a declarative rule hiding a type's jobs from a role
hides its rules too (``types.list``, ``types.watch`` and its pushes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from livejobs_sdk import CallError, Client
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


async def test_a_hidden_types_rules_are_not_the_callers_to_change(tmp_path: Any) -> None:
    """A manager a rule keeps from a type's jobs may not change the type either (each
    ``types.*`` change answers with the type's rules; ``types.obliterate`` with how many jobs
    it kept): ``forbidden``, and the type is as it was. Its visible types are its to change."""
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": NO_PAYROLL_FOR_MANAGERS})
    await srv.start()
    try:
        async with srv.client() as admin:
            await admin.call("jobs.create_many", {"jobs": [{"type": "payroll"}] * 7})
            await admin.call("types.set_limits", {"type": "payroll", "concurrency": 3})
        mia = await srv.token("manager", "mia")
        changes = [
            ("types.obliterate", {}),
            ("types.pause", {}),
            ("types.set_limits", {"concurrency": 1}),
            ("types.set_retain", {"retain": 60}),
            ("types.set_keep", {"keep": {"completed": 1}}),
            ("types.set_retry", {"retry": {"retries": 1}}),
            ("types.set_time_limit", {"time_limit": 60}),
        ]
        async with srv.client(mia) as manager:
            for method, params in changes:
                with pytest.raises(CallError) as refused:
                    await manager.call(method, {"type": "payroll", **params})
                assert refused.value.code == "forbidden", method
                assert "3" not in refused.value.message
            assert (await manager.call("types.pause", {"type": "mail"}))["paused"]
        async with srv.client() as admin:
            left = await admin.call("jobs.find", {"filter": {"type": "payroll"}})
            assert [job["status"] for job in left] == ["ready"] * 7
            [payroll] = [t for t in await admin.call("types.list") if t["type"] == "payroll"]
            assert not payroll["paused"] and payroll["concurrency"] == 3
    finally:
        await srv.stop()
