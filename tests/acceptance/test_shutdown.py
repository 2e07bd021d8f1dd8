"""SIGTERM loses nothing: not to the server while workers run jobs, not to a worker mid-job.

The jobs here have no retries, so a single attempt lost to a shutdown would leave a job failed.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from livejobs_sdk import Client
from tests.acceptance.test_cli import stop_process, worker_process
from tests.helpers import wait_status
from tests.servers import ProcessServer


async def wait_running(client: Client, job_type: str, count: int, timeout: float = 10) -> set[str]:
    """The ids of ``count`` running jobs of ``job_type``, as soon as there are that many."""

    async def wait() -> set[str]:
        async with client.subscribe({"type": job_type, "status": "running"}) as sub:
            async for _ in sub:
                if len(sub.docs) >= count:
                    return set(sub.docs)
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(wait(), timeout)


def messages(doc: dict[str, Any]) -> list[str]:
    return [entry["message"] for entry in doc["log"]]


def finished_cleanly(doc: dict[str, Any]) -> bool:
    return doc["status"] == "completed" and doc["attempts"] == 1 and doc["failures"] == []


async def test_sigterm_lets_running_jobs_finish_then_the_rest_run_after_restart(tmp_path):
    server = ProcessServer(tmp_path / "jobs.db")
    await server.start()
    try:
        async with worker_process(
            server, tmp_path, "cli_handlers:slow", "--type", "slow", "--concurrency", "2"
        ) as worker:
            async with server.client(reconnect=False) as client:
                ids = [(await client.job("slow", {"seconds": 1.5}).save()).id for _ in range(4)]
                running = await wait_running(client, "slow", 2)
            await server.stop()  # SIGTERM; returns once the process has exited

            await server.start()  # the worker process reconnects by itself
            async with server.client(reconnect=False) as client:
                docs = {
                    i: await wait_status(client, i, "completed", "failed", timeout=20) for i in ids
                }
            assert await stop_process(worker) == 0
    finally:
        await server.stop()
    assert all(finished_cleanly(doc) for doc in docs.values()), docs
    for job_id in running:  # these finished during the drain, on the first server
        assert not any(m.startswith("snoozed") for m in messages(docs[job_id]))
    later = [docs[i] for i in ids if i not in running]
    assert min(d["started"] for d in later) > max(docs[i]["finished"] for i in running)


async def test_sigterm_past_the_grace_hands_running_jobs_back(tmp_path):
    server = ProcessServer(tmp_path / "jobs.db", "--shutdown-grace", "0")
    await server.start()
    try:
        async with worker_process(
            server,
            tmp_path,
            "cli_handlers:until_handed_back",
            "--type",
            "block",
            "--concurrency",
            "2",
        ) as worker:
            async with server.client(reconnect=False) as client:
                ids = [(await client.job("block").save()).id for _ in range(2)]
                await wait_running(client, "block", 2)
            observer = await connect(server.ws_url)
            await observer.send(
                json.dumps(
                    {
                        "msg": "call",
                        "id": 1,
                        "method": "auth",
                        "params": {"token": server.admin_token},
                    }
                )
            )
            assert json.loads(await observer.recv())["msg"] == "result"
            await server.stop()
            await observer.wait_closed()
            assert observer.close_code == 1001  # going away, not an abrupt drop

            await server.start()
            async with server.client(reconnect=False) as client:
                docs = [
                    await wait_status(client, i, "completed", "failed", timeout=20) for i in ids
                ]
            assert await stop_process(worker) == 0
    finally:
        await server.stop()
    for doc in docs:
        assert finished_cleanly(doc) and doc["result"] == "second run", doc
        assert "snoozed for 0s" in messages(doc)


async def test_sigterm_to_a_worker_finishes_its_job_and_exits_0(live_server, tmp_path):
    async with (
        worker_process(live_server, tmp_path, "cli_handlers:slow", "--type", "slow") as worker,
        live_server.client() as client,
    ):
        job = await client.job("slow", {"seconds": 1}).save()
        queued = await client.job("slow", {"seconds": 1}).save()
        await wait_running(client, "slow", 1)
        assert await stop_process(worker, signal.SIGTERM) == 0
        doc = await client.get_job(job.id)
        assert finished_cleanly(doc) and doc["result"] == "slept"
        assert (await client.get_job(queued.id))["status"] == "ready"  # it took no more


async def test_sigint_to_a_worker_hands_its_job_back_and_exits_0(live_server, tmp_path):
    async with (
        worker_process(
            live_server, tmp_path, "cli_handlers:until_handed_back", "--type", "block"
        ) as worker,
        live_server.client() as client,
    ):
        job = await client.job("block").save()
        await wait_running(client, "block", 1)
        assert await stop_process(worker, signal.SIGINT) == 0
        doc = await client.get_job(job.id)
        assert doc["status"] == "ready" and doc["attempts"] == 0 and doc["failures"] == []
        assert "snoozed for 0s" in messages(doc)


async def test_sigterm_to_a_worker_past_its_grace_hands_back(live_server, tmp_path):
    async with (
        worker_process(
            live_server,
            tmp_path,
            "cli_handlers:until_handed_back",
            "--type",
            "block",
            "--grace",
            "0.2",
        ) as worker,
        live_server.client() as client,
    ):
        job = await client.job("block").save()
        await wait_running(client, "block", 1)
        assert await stop_process(worker, signal.SIGTERM) == 0
        doc = await client.get_job(job.id)
        assert doc["status"] == "ready" and doc["failures"] == [], doc["log"]


async def authenticated(server: ProcessServer) -> ClientConnection:
    """A raw WebSocket session, to see every frame the server pushes."""
    ws = await connect(server.ws_url)
    auth = {"msg": "call", "id": 1, "method": "auth", "params": {"token": server.admin_token}}
    await ws.send(json.dumps(auth))
    assert json.loads(await ws.recv())["msg"] == "result"
    return ws


async def test_a_draining_server_says_so_and_a_second_sigterm_ends_it(tmp_path):
    """While a held job keeps the drain going, the listener stays open: /readyz answers 503
    draining, open sessions are told, new sockets and claims are refused as unavailable. A
    second SIGTERM ends it at once, handing the job back (it runs again after a restart)."""
    server = ProcessServer(tmp_path / "jobs.db", "--shutdown-grace", "60")
    await server.start()
    try:
        async with worker_process(
            server, tmp_path, "cli_handlers:until_handed_back", "--type", "block"
        ) as worker:
            async with server.client(reconnect=False) as client:
                job_id = (await client.job("block").save()).id
                await wait_running(client, "block", 1)
            observer = await authenticated(server)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)

            pushed = json.loads(await asyncio.wait_for(observer.recv(), 10))
            assert pushed == {"msg": "server", "state": "draining"}
            auth = {"Authorization": f"Bearer {server.admin_token}"}
            async with httpx.AsyncClient(base_url=server.http_url, headers=auth) as http:
                ready = await http.get("/readyz")
                assert ready.status_code == 503 and ready.json()["status"] == "draining"
                claim = await http.post("/api/claim", json={"types": ["block"]})
                assert claim.status_code == 503
                assert claim.json()["code"] == "unavailable"
            latecomer = await connect(server.ws_url)
            refusal = json.loads(await asyncio.wait_for(latecomer.recv(), 10))
            assert refusal["error"]["code"] == "unavailable"
            assert "draining" in refusal["error"]["message"]
            await latecomer.wait_closed()
            assert latecomer.close_code == 1013  # try again later

            start = asyncio.get_running_loop().time()
            server.proc.send_signal(signal.SIGTERM)  # do not wait out the 60 s grace
            await asyncio.to_thread(server.proc.wait, 10)
            assert asyncio.get_running_loop().time() - start < 5
            await observer.wait_closed()
            assert observer.close_code == 1001

            await server.restart()
            async with server.client(reconnect=False) as client:
                doc = await wait_status(client, job_id, "completed", "failed", timeout=20)
            assert await stop_process(worker) == 0
    finally:
        await server.stop()
    assert finished_cleanly(doc) and doc["result"] == "second run", doc
    assert "Traceback" not in server.log_path.read_text()


async def test_a_second_ctrl_c_ends_the_drain_without_a_traceback(tmp_path):
    """Ctrl-C is SIGINT: the first starts the drain, the second ends it at once, and neither
    leaves a ``CancelledError`` traceback in the server's output."""
    server = ProcessServer(tmp_path / "jobs.db", "--shutdown-grace", "60")
    await server.start()
    try:
        async with worker_process(
            server, tmp_path, "cli_handlers:until_handed_back", "--type", "block"
        ) as worker:
            async with server.client(reconnect=False) as client:
                await client.job("block").save()
                await wait_running(client, "block", 1)
            observer = await authenticated(server)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGINT)
            pushed = json.loads(await asyncio.wait_for(observer.recv(), 10))
            assert pushed == {"msg": "server", "state": "draining"}

            start = asyncio.get_running_loop().time()
            server.proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(server.proc.wait, 10)
            assert asyncio.get_running_loop().time() - start < 5
            await observer.wait_closed()
            await stop_process(worker)
    finally:
        await server.stop()
    output = server.log_path.read_text()
    assert "Traceback" not in output and "CancelledError" not in output, output
