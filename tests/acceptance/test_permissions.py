"""Authentication and allow/deny rules, over WebSocket and HTTP, with the store checked
unchanged after every denied call."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from livejobs.clock import ManualClock
from livejobs_sdk import CallError, Client
from tests.helpers import collect_until_ready
from tests.servers import InProcessServer


@pytest.fixture
async def world(tmp_path):
    """A server with one user per role, a job of each creator and a job leased to worker w1."""
    srv = InProcessServer(tmp_path / "jobs.db")
    await srv.start()
    tokens = {
        "admin": srv.admin_token,
        "manager": await srv.token("manager", "mia"),
        "creator": await srv.token("creator", "alice"),
        "bob": await srv.token("creator", "bob"),
        "worker": await srv.token("worker", "w2"),
        "w1": await srv.token("worker", "w1"),
    }
    async with Client(srv.ws_url, token=tokens["bob"]) as bob:
        bobs = (await bob.job("mail", {"to": "x"}).save()).id
        finished = await bob.job("mail").save()
        await finished.cancel()
    async with Client(srv.ws_url, token=tokens["creator"]) as alice:
        alices = (await alice.job("mail").save()).id
    async with Client(srv.ws_url, token=tokens["bob"]) as bob:
        await bob.job("leased").save()
    async with Client(srv.ws_url, token=tokens["w1"]) as w1:
        [leased] = await w1.call("jobs.claim", {"types": ["leased"], "lease": 3600})
    try:
        yield {
            "srv": srv,
            "tokens": tokens,
            "bobs": bobs,
            "alices": alices,
            "leased": leased,
            "finished": finished.id,
        }
    finally:
        await srv.stop()


def calls(w: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], set[str]]]:
    """name → (method, params, roles allowed); roles: admin, manager, creator (alice), worker."""
    bobs, leased = w["bobs"], w["leased"]
    everyone = {"admin", "manager", "creator", "worker"}
    return {
        "create": ("jobs.create", {"type": "mail"}, {"admin", "manager", "creator"}),
        "create_many": (
            "jobs.create_many",
            {"jobs": [{"type": "mail"}]},
            {"admin", "manager", "creator"},
        ),
        "get other's job": ("jobs.get", {"id": bobs}, {"admin", "manager", "worker"}),
        "find": ("jobs.find", {"filter": {}}, everyone),
        "counts": ("jobs.counts", {}, everyone),
        "cancel other's job": ("jobs.cancel", {"id": bobs}, {"admin", "manager"}),
        "pause other's job": ("jobs.pause", {"id": bobs}, {"admin", "manager"}),
        "resume other's job": ("jobs.resume", {"id": bobs}, {"admin", "manager"}),
        "ready other's job": ("jobs.ready", {"id": bobs}, {"admin", "manager"}),
        "restart other's job": ("jobs.restart", {"id": w["finished"]}, {"admin", "manager"}),
        "rerun other's job": ("jobs.rerun", {"id": bobs}, {"admin", "manager"}),
        "remove other's job": ("jobs.remove", {"id": w["finished"]}, {"admin", "manager"}),
        "controller log on other's job": (
            "jobs.log",
            {"id": bobs, "message": "m"},
            {"admin", "manager"},
        ),
        "bulk cancel": ("jobs.cancel", {"ids": [bobs]}, {"admin", "manager"}),
        "claim": ("jobs.claim", {"types": ["nothing-here"]}, {"admin", "worker"}),
        "done without the lease": ("jobs.done", {"id": leased["id"], "lease": "forged"}, set()),
        "fail without the lease": (
            "jobs.fail",
            {"id": leased["id"], "lease": "forged", "error": "x"},
            set(),
        ),
        "progress without the lease": (
            "jobs.progress",
            {"id": leased["id"], "lease": "forged", "completed": 1, "total": 2},
            set(),
        ),
        "workers.list": ("workers.list", {}, {"admin", "manager"}),
        "users.add": ("users.add", {"name": "eve", "role": "admin"}, {"admin"}),
        "users.list": ("users.list", {}, {"admin"}),
        "tokens.create": ("tokens.create", {"user": "alice"}, {"admin"}),
        "tokens.list": ("tokens.list", {}, {"admin"}),
    }


async def snapshot(srv: InProcessServer) -> Any:
    store = srv.services.store
    jobs = await store.find({}, limit=10_000)
    return jobs, await store.list_records("users"), await store.list_records("tokens")


async def ws_call(srv, token, method, params):
    async with Client(srv.ws_url, token=token, reconnect=False) as client:
        try:
            return await client.call(method, params), None
        except CallError as exc:
            return None, exc.code


async def http_call(srv, token, method, params):
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        response = await http.post(
            f"/api/call/{method}", json=params, headers={"Authorization": f"Bearer {token}"}
        )
        body = response.json()
        return (body.get("result"), None) if response.status_code == 200 else (None, body["code"])


@pytest.mark.parametrize("transport", [ws_call, http_call], ids=["ws", "http"])
@pytest.mark.parametrize("role", ["admin", "manager", "creator", "worker"])
async def test_every_method_for_every_role(world, role, transport):
    srv = world["srv"]
    for name, (method, params, allowed) in calls(world).items():
        before = await snapshot(srv)
        _, code = await transport(srv, world["tokens"][role], method, params)
        if role in allowed:
            assert code != "forbidden", f"{role} should be allowed: {name}"
        else:
            # a job the caller may not read answers as an unknown id would (issue 20, item 12)
            assert code in ("forbidden", "not_found"), f"{role} should be denied: {name} ({code})"
            assert await snapshot(srv) == before, f"denied {name} changed the store"


async def test_creator_controls_and_reads_only_their_own(world):
    srv, tokens = world["srv"], world["tokens"]
    async with Client(srv.ws_url, token=tokens["creator"]) as alice:
        assert [d["id"] for d in await alice.find({})] == [world["alices"]]
        assert (await alice.counts())["status"] == {"ready": 1}
        mine = await alice.job_handle(world["alices"])
        await mine.pause()
        await mine.resume()
        with pytest.raises(CallError) as info:
            await alice.get_job(world["bobs"])
        assert info.value.code == "not_found"  # as an unknown id: no existence leak


async def test_subscription_does_not_leak_other_creators_jobs(world):
    srv, tokens = world["srv"], world["tokens"]
    async with (
        Client(srv.ws_url, token=tokens["creator"]) as alice,
        Client(srv.ws_url, token=tokens["bob"]) as bob,
        alice.subscribe({}) as sub,
    ):
        events = await collect_until_ready(sub)
        assert [e.id for e in events if e.kind == "added"] == [world["alices"]]
        await bob.job("mail", {"secret": "bob's"}).save()
        mine = await alice.job("mail").save()
        event = await sub.next(5)
        assert (event.kind, event.id) == ("added", mine.id)
        assert set(sub.docs) == {world["alices"], mine.id}


async def test_worker_cannot_finish_a_job_it_does_not_hold(world):
    srv, tokens, leased = world["srv"], world["tokens"], world["leased"]
    before = await snapshot(srv)
    async with Client(srv.ws_url, token=tokens["worker"]) as w2:
        with pytest.raises(CallError) as info:
            await w2.call("jobs.done", {"id": leased["id"], "lease": "0" * 32, "result": "stolen"})
        assert info.value.code == "forbidden"
    assert await snapshot(srv) == before
    async with Client(srv.ws_url, token=tokens["w1"]) as w1:
        await w1.call(
            "jobs.done", {"id": leased["id"], "lease": leased["lease"]["token"], "result": 1}
        )
        assert (await w1.get_job(leased["id"]))["status"] == "completed"


async def test_worker_limited_to_its_types(world):
    srv = world["srv"]
    token = await srv.token("worker", "mailer", types=["mail"])
    async with Client(srv.ws_url, token=token) as mailer:
        with pytest.raises(CallError) as info:
            await mailer.call("jobs.claim", {"types": ["leased"]})
        assert info.value.code == "forbidden"
        assert len(await mailer.call("jobs.claim", {"types": ["mail"]})) == 1
        assert {d["type"] for d in await mailer.find({})} == {"mail"}


async def test_forged_revoked_and_deleted_tokens_are_refused(world):
    srv, tokens = world["srv"], world["tokens"]
    for forged in ("lj_000000000000_" + "0" * 32, "nonsense", tokens["creator"][:-1] + "x"):
        with pytest.raises(CallError) as info:
            async with Client(srv.ws_url, token=forged, reconnect=False):
                pass
        assert info.value.code == "unauthenticated"
    async with srv.client() as admin:
        token_id = tokens["bob"].split("_")[1]
        assert await admin.call("tokens.revoke", {"id": token_id}) is True
        listed = {t["id"]: t for t in await admin.call("tokens.list", {"user": "bob"})}
        assert listed[token_id]["revoked"] is True and "hash" not in listed[token_id]
    with pytest.raises(CallError) as info:
        async with Client(srv.ws_url, token=tokens["bob"], reconnect=False):
            pass
    assert info.value.message == "token revoked"
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        refused = await http.get("/api/jobs", headers={"Authorization": f"Bearer {tokens['bob']}"})
        assert refused.status_code == 401


async def test_tokens_expire(tmp_path):
    clock = ManualClock()
    srv = InProcessServer(tmp_path / "jobs.db", clock=clock)
    await srv.start()
    try:
        async with srv.client() as admin:
            await admin.call("users.add", {"name": "temp", "role": "creator"})
            token = (await admin.call("tokens.create", {"user": "temp", "expires": 60}))["token"]
        async with Client(srv.ws_url, token=token, reconnect=False) as temp:
            assert temp.identity["role"] == "creator"
        clock.advance(61)
        with pytest.raises(CallError) as info:
            async with Client(srv.ws_url, token=token, reconnect=False):
                pass
        assert info.value.message == "token expired"
    finally:
        await srv.stop()


async def test_deny_rules_win_and_allow_rules_extend(tmp_path):
    rules = {
        "deny": [{"role": "creator", "method": "jobs.create", "type": "danger"}],
        "allow": [{"role": "creator", "method": "workers.list"}],
    }
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": rules})
    await srv.start()
    try:
        token = await srv.token("creator", "carol")
        async with Client(srv.ws_url, token=token) as carol:
            with pytest.raises(CallError) as info:
                await carol.job("danger").save()
            assert info.value.code == "forbidden"
            await carol.job("safe").save()
            assert await carol.call("workers.list") == []
            assert await srv.services.store.count({"type": "danger"}) == 0
    finally:
        await srv.stop()


async def test_callable_rules_from_a_module(tmp_path):
    srv = InProcessServer(tmp_path / "jobs.db", rules="tests.rules_example:RULES")
    await srv.start()
    try:
        token = await srv.token("manager", "night-shift")
        async with Client(srv.ws_url, token=token) as manager:
            job = await manager.job("report", {"size": 10}).save()
            with pytest.raises(CallError) as info:
                await manager.job("report", {"size": 10_000}).save()
            assert info.value.code == "forbidden"
            with pytest.raises(CallError):
                await job.cancel()  # the rule denies cancelling reports
    finally:
        await srv.stop()


async def test_anonymous_is_off_by_default_and_can_be_enabled(tmp_path, server):
    with pytest.raises(CallError):
        async with Client(server.ws_url, token=None, reconnect=False):
            pass
    anon = InProcessServer(tmp_path / "anon.db", anonymous_role="creator")
    await anon.start()
    try:
        async with Client(anon.ws_url, token=None) as client:
            assert client.identity == {
                "user": "anonymous",
                "role": "creator",
                "methods": client.identity["methods"],
                "protocol": 1,
                "protocols": [1],
                "max_pending_calls": 1000,
            }
            await client.job("from-nobody").save()
            with pytest.raises(CallError):
                await client.call("users.list")
    finally:
        await anon.stop()


async def test_limits_protect_the_server(tmp_path):
    srv = InProcessServer(
        tmp_path / "jobs.db", max_subscriptions=2, max_data_bytes=1000, auth_timeout=0.3
    )
    await srv.start()
    try:
        async with srv.client() as client:
            await client.subscribe({}).start()
            await client.subscribe({"type": "a"}).start()
            with pytest.raises(CallError) as info:
                await client.subscribe({"type": "b"}).start()
            assert info.value.code == "rate_limited"
            with pytest.raises(CallError) as info:
                await client.job("big", "x" * 2000).save()
            assert info.value.code == "too_large"
            assert await srv.services.store.count({"type": "big"}) == 0
        async with websockets.connect(srv.ws_url) as silent:
            reply = json.loads(await asyncio.wait_for(silent.recv(), 5))
            assert reply["error"]["code"] == "unauthenticated"
            await asyncio.wait_for(silent.wait_closed(), 5)
            assert silent.close_code == 1008
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(srv.ws_url, origin="http://evil.example"):
                pass
        async with websockets.connect(srv.ws_url, origin=srv.http_url) as same_origin:
            await same_origin.send(
                json.dumps(
                    {"msg": "call", "id": 1, "method": "auth", "params": {"token": srv.admin_token}}
                )
            )
            assert json.loads(await same_origin.recv())["result"]["role"] == "admin"
    finally:
        await srv.stop()


async def test_auth_result_lists_the_methods_the_role_may_use(world):
    srv, tokens = world["srv"], world["tokens"]
    async with (
        Client(srv.ws_url, token=tokens["creator"]) as alice,
        Client(srv.ws_url, token=tokens["worker"]) as worker,
    ):
        assert "jobs.create" in alice.identity["methods"]
        assert "users.add" not in alice.identity["methods"]
        assert "jobs.create" not in worker.identity["methods"]
        assert "jobs.done" in worker.identity["methods"]
