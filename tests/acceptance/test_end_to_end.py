"""The walking skeleton end to end: real uvicorn, real sockets, real SQLite files, real SDK."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import httpx
import pytest

from livejobs.state import state_of
from livejobs_sdk import CallError, Client
from tests.helpers import collect_until_ready, running_worker, wait_status
from tests.servers import ADMIN_TOKEN, ROOT


async def test_create_process_result(server):
    async with server.client() as client:
        job = client.job("echo", {"q": 1}).priority("high").retry(retries=3, wait=1.0)
        await job.save()
        assert job.status == "ready"
        doc = await client.get_job(job.id)
        assert doc["priority"] == -10 and doc["retry"]["retries"] == 3 and doc["data"] == {"q": 1}

        async def handler(job):
            await job.log("echoing")
            await job.progress(1, 1)
            return {"echo": job.data["q"]}

        async with running_worker(client, "echo", handler, concurrency=4):
            assert await client.run("echo", {"q": 2}, timeout=10) == {"echo": 2}
            assert await job.result(timeout=10) == {"echo": 1}
        done = await client.get_job(job.id)
        assert done["status"] == "completed" and done["attempts"] == 1
        assert any(entry["message"] == "echoing" for entry in done["log"])
        assert done["lease"] is None and done["progress"]["percent"] == 100.0


async def test_subscription_sees_added_changed_removed_in_order(server):
    async with server.client() as client, client.subscribe({"type": "s"}) as sub:
        assert [e.kind for e in await collect_until_ready(sub)] == ["ready"]
        job = await client.job("s", {"n": 1}).save()
        other = await client.job("not-s").save()
        event = await sub.next(5)
        assert (event.kind, event.id) == ("added", job.id)
        await job.pause()
        event = await sub.next(5)
        assert (event.kind, event.doc["status"]) == ("changed", "paused")
        await job.cancel()
        event = await sub.next(5)
        assert (event.kind, event.doc["status"]) == ("changed", "cancelled")
        await job.remove()
        event = await sub.next(5)
        assert (event.kind, event.id) == ("removed", job.id)
        assert other.id not in sub.docs and sub.docs == {}


async def test_leaving_the_filter_is_removed_for_that_subscriber(server):
    async with server.client() as client, client.subscribe({"status": "ready"}) as sub:
        await collect_until_ready(sub)
        job = await client.job("t").save()
        assert (await sub.next(5)).kind == "added"
        await job.pause()
        event = await sub.next(5)
        assert (event.kind, event.id) == ("removed", job.id)


async def test_snapshot_then_ready_then_live(server):
    async with server.client() as client:
        first = await client.job("snap").save()
        async with client.subscribe({"type": "snap"}) as sub:
            events = await collect_until_ready(sub)
            assert [(e.kind, e.id) for e in events] == [("added", first.id), ("ready", None)]
            second = await client.job("snap").save()
            assert (await sub.next(5)).id == second.id


async def test_two_workers_never_get_the_same_job(server):
    seen: dict[str, list[str]] = {}
    done = asyncio.Event()
    total = 60

    def handler_for(name):
        async def handler(job):
            seen.setdefault(job.id, []).append(name)
            await asyncio.sleep(0)
            if len(seen) == total:
                done.set()
            return name

        return handler

    async with server.client() as a, server.client() as b, server.client() as producer:
        async with (
            running_worker(a, "race", handler_for("a"), concurrency=5),
            running_worker(b, "race", handler_for("b"), concurrency=5),
        ):
            await producer.create_many([("race", {"i": i}) for i in range(total)])
            await asyncio.wait_for(done.wait(), 20)
        docs = await producer.find({"type": "race"})
    assert all(len(workers) == 1 for workers in seen.values())
    assert {d["status"] for d in docs} == {"completed"} and len(docs) == total
    assert {d["attempts"] for d in docs} == {1}


async def test_priority_then_age_order(server):
    order: list[str] = []
    finished = asyncio.Event()
    async with server.client() as client:
        low = await client.job("p", "low").priority("low").save()
        normal1 = await client.job("p", "normal1").save()
        critical = await client.job("p", "critical").priority("critical").save()
        normal2 = await client.job("p", "normal2").save()
        high = await client.job("p", "high").priority(-10).save()

        async def handler(job):
            order.append(job.data)
            if len(order) == 5:
                finished.set()

        async with running_worker(client, "p", handler, concurrency=1):
            await asyncio.wait_for(finished.wait(), 10)
    assert order == ["critical", "high", "normal1", "normal2", "low"]
    assert {low.id, normal1.id, critical.id, normal2.id, high.id}


async def test_worker_killed_mid_job_is_retried(server):
    async with server.client() as client:
        job = await client.job("fragile", {"x": 1}).retry(retries=2).save()
        token = await server.token("worker", "crashy")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.workers.blocking_worker",
                server.ws_url,
                token,
                "fragile",
                "doomed",
            ],
            cwd=ROOT,
        )
        try:
            running = await wait_status(client, job.id, "running", timeout=15)
            assert running["lease"]["worker"] == "crashy/doomed"
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        back = await wait_status(client, job.id, "ready", "waiting", timeout=10)
        assert back["attempts"] == 1 and back["failures"][0]["error"] == "worker lost"
        assert back["failures"][0]["worker"] == "crashy/doomed"

        async def handler(job):
            return "second time lucky"

        async with running_worker(client, "fragile", handler):
            assert await client.wait_finished(job.id, 10)
        final = await client.get_job(job.id)
        assert final["status"] == "completed" and final["attempts"] == 2
        assert final["result"] == "second time lucky"


async def test_server_restart_loses_no_job(live_server):
    async with live_server.client(reconnect=False) as client:
        ids = await client.create_many([("keep", {"i": i}) for i in range(50)])
        one = await client.job("keep", {"single": True}).delay(3600).save()
    await live_server.kill()
    await live_server.start()
    async with live_server.client() as client:
        docs = await client.find({"type": "keep"})
        assert {d["id"] for d in docs} == {*ids, one.id}
        assert (await client.get_job(one.id))["status"] == "waiting"


async def test_bad_input_gets_errors_and_the_server_keeps_working(server):
    import websockets

    async with websockets.connect(server.ws_url, max_size=None) as ws:

        async def ask(frame):
            await ws.send(frame)
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

        assert (await ask('{"msg":"call","id":1,"method":"jobs.get","params":{"id":"x"}}'))[
            "error"
        ]["code"] == "unauthenticated"
        bad_auth = await ask('{"msg":"call","id":2,"method":"auth","params":{"token":"lj_no_pe"}}')
        assert bad_auth["error"]["code"] == "unauthenticated"
        ok = await ask(
            f'{{"msg":"call","id":3,"method":"auth","params":{{"token":"{ADMIN_TOKEN}"}}}}'
        )
        assert ok["result"]["role"] == "admin"
        cases = {
            "{not json": "invalid",
            "[]": "invalid",
            "[" + ",".join(["{}"] * 1001) + "]": "invalid",
            '{"msg":"call","id":4,"method":"no.such","params":{}}': "not_found",
            '{"msg":"call","id":5,"method":"jobs.create","params":{"type":5}}': "invalid",
            '{"msg":"call","id":6,"method":"jobs.create","params":{"type":"t","retry":{"retries":-1}}}': "invalid",  # noqa: E501
            '{"msg":"call","id":7,"method":"jobs.find","params":{"filter":{"$where":"1"}}}': "invalid",  # noqa: E501
            '{"msg":"call","id":8,"method":"jobs.find","params":{"filter":{"a":{"$regex":"x"}}}}': "invalid",  # noqa: E501
            '{"msg":"call","id":9,"method":"jobs.create","params":"nope"}': "invalid",
            '{"msg":"call","id":10,"method":"jobs.get","params":{"id":"missing"}}': "not_found",
            '{"msg":"call","id":11,"method":"jobs.create","params":{"type":"t","priority":"urgent"}}': "invalid",  # noqa: E501
            '{"msg":"call","id":12,"method":"jobs.create","params":{"type":"t","data":'
            + "[" * 100
            + "]" * 100
            + "}}": "invalid",
        }
        for frame, code in cases.items():
            reply = await ask(frame)
            assert reply["msg"] == "error" and reply["error"]["code"] == code, (frame, reply)
            assert reply["error"]["message"]
        # an array message: each element is a call of its own, with its own reply
        await ws.send(
            '[{"msg":"call","id":20,"method":"jobs.get","params":{"id":"missing"}},7,'
            '{"msg":"call","id":21,"method":"jobs.counts","params":{}}]'
        )
        replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
        by_id = {r["id"]: r for r in replies}
        assert by_id[20]["error"]["code"] == "not_found"
        assert by_id[None]["error"]["code"] == "invalid"
        assert "status" in by_id[21]["result"]
        huge = '{"msg":"call","id":13,"method":"jobs.create","params":{"type":"t","data":"%s"}}' % (
            "x" * 2_000_000
        )
        reply = await ask(huge)
        assert reply["error"]["code"] == "too_large"
        await ws.send(b"\x00\x01binary")
        assert (await asyncio.wait_for(ws.recv(), 5)) and True
        # the same connection still works
        created = await ask('{"msg":"call","id":14,"method":"jobs.create","params":{"type":"t"}}')
        assert created["result"]["status"] == "ready"
    async with server.client() as client:
        assert (await client.get_job(created["result"]["id"]))["type"] == "t"
        with pytest.raises(CallError) as info:
            await client.call("jobs.create", {"type": "t", "bogus": 1})
        assert info.value.code == "invalid" and "bogus" in info.value.message


async def test_wrong_token_is_refused_by_the_sdk(server):
    with pytest.raises(CallError) as info:
        async with Client(server.ws_url, token="lj_abc_def", reconnect=False):
            pass
    assert info.value.code == "unauthenticated"


async def test_http_api_create_get_list_claim_report(server):
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        created = await http.post(
            "/api/jobs", json={"type": "web", "data": {"n": 1}, "priority": "high"}
        )
        assert created.status_code == 201
        job_id = created.json()["result"]["id"]
        assert (await http.get(f"/api/jobs/{job_id}")).json()["result"]["priority"] == -10
        listed = await http.get("/api/jobs", params={"filter": '{"type": "web"}', "limit": 5})
        assert [d["id"] for d in listed.json()["result"]] == [job_id]
        claimed = (await http.post("/api/claim", json={"types": ["web"], "lease": 60})).json()[
            "result"
        ]
        assert [d["id"] for d in claimed] == [job_id]
        lease = claimed[0]["lease"]["token"]
        assert (
            await http.post(f"/api/jobs/{job_id}/log", json={"lease": lease, "message": "hi"})
        ).json() == {"result": True}
        assert (
            await http.post(
                f"/api/jobs/{job_id}/progress", json={"lease": lease, "completed": 1, "total": 2}
            )
        ).json() == {"result": True}
        done = await http.post(f"/api/jobs/{job_id}/done", json={"lease": lease, "result": 42})
        assert done.status_code == 200
        final = (await http.get(f"/api/jobs/{job_id}")).json()["result"]
        assert final["status"] == "completed" and final["result"] == 42

        second = (await http.post("/api/jobs", json={"type": "web"})).json()["result"]
        lease2 = (await http.post("/api/claim", json={"types": ["web"]})).json()["result"][0][
            "lease"
        ]["token"]
        failed = await http.post(
            f"/api/jobs/{second['id']}/fail", json={"lease": lease2, "error": "boom", "fatal": True}
        )
        assert failed.status_code == 200
        assert (await http.get(f"/api/jobs/{second['id']}")).json()["result"]["status"] == "failed"

        assert (await http.get("/api/jobs/nope")).status_code == 404
        bad = await http.post("/api/jobs", content=b"{nope")
        assert bad.status_code == 400 and bad.json()["code"] == "invalid"
        spec = (await http.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.") and "/api/jobs" in spec["paths"]
        assert "JobSpec" in spec["components"]["schemas"]
    async with httpx.AsyncClient(base_url=server.http_url) as anonymous:
        refused = await anonymous.post("/api/jobs", json={"type": "web"})
        assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"


async def test_a_snapshot_larger_than_the_slow_client_cap_arrives_whole(server):
    from livejobs.session import MAX_OUTBOX

    total = MAX_OUTBOX + 5_000
    async with server.client() as client:
        for start in range(0, total, 5_000):
            await client.create_many([("bulk", {"i": i}) for i in range(start, start + 5_000)])
        async with client.subscribe({"type": "bulk"}) as sub:
            await asyncio.wait_for(sub.ready.wait(), 60)
            assert len(sub.docs) == total
        assert (await client.counts({"type": "bulk"}))["status"] == {"ready": total}


async def test_a_subscriber_that_stops_reading_is_cut_off_and_told_why(server, monkeypatch):
    import websockets

    from livejobs import session as sessions_module

    monkeypatch.setattr(sessions_module, "MAX_OUTBOX", 300)
    # max_queue=1: the client stops reading its socket as soon as one message waits unread
    async with websockets.connect(server.ws_url, max_queue=1) as ws:
        auth = {"token": server.admin_token, "batch": True}
        await ws.send(json.dumps({"msg": "call", "id": 1, "method": "auth", "params": auth}))
        await ws.send(
            json.dumps(
                {
                    "msg": "call",
                    "id": 2,
                    "method": "subscribe",
                    "params": {"filter": {"type": "flood"}},
                }
            )
        )
        while '"ready"' not in await ws.recv():
            pass
        live = state_of(server.app).sessions
        async with server.client() as producer:
            for _ in range(200):  # the kernel's and the transport's buffers fill up first
                await producer.create_many([("flood", {"pad": "x" * 8000})] * 50)
                if any(s.close_reason == sessions_module.SLOW for s in live):
                    break
            else:
                raise AssertionError("the server never gave up on the silent subscriber")
            assert sum(s.open for s in live) == 1  # the producer's own session is untouched
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:  # reading again: what was already sent, then the reason
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason.startswith("too slow")


async def test_log_entries_say_audit_or_log_and_jobs_remember_their_worker(server):
    async with server.client() as client:

        async def handler(job):
            await job.log("hello from the handler", level="warning", data={"n": 1})

        job = await client.job("kinds").save()
        async with running_worker(client, "kinds", handler, worker_id="w-kinds"):
            await job.result(timeout=10)
        doc = await client.get_job(job.id)
    assert doc["worker"] == "admin/w-kinds" and doc["lease"] is None
    kinds = {e["message"]: e["kind"] for e in doc["log"]}
    assert kinds["hello from the handler"] == "log" and kinds["created"] == "audit"
    assert kinds["completed"] == "audit"
