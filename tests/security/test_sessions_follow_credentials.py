"""Security issue 20, item 4: an open WebSocket session lasts only as long as its credentials.

Revoking a token, its expiry and deleting its user end the sessions it opened, on every server
sharing the store, within a second, with a close reason that says which; HTTP re-checks the
token on every request.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from livejobs.clock import ManualClock
from tests.helpers import wait_for_doc
from tests.servers import ROOT, InProcessServer, started

POLICY_VIOLATION = 1008


@pytest.fixture
async def servers(tmp_path) -> AsyncIterator[tuple[InProcessServer, InProcessServer]]:
    """Two servers on one SQLite file (see tests/acceptance/test_two_servers.py)."""
    clock = ManualClock()
    a = InProcessServer(tmp_path / "jobs.db", clock=clock)
    b = InProcessServer(tmp_path / "jobs.db", clock=clock)
    async with started(a, b):
        yield a, b


async def _open(srv: InProcessServer, token: str) -> Any:
    """A raw authenticated session, so the test sees the very frames and close the server sends."""
    ws = await websockets.connect(srv.ws_url)
    await ws.send(
        json.dumps({"msg": "call", "id": 1, "method": "auth", "params": {"token": token}})
    )
    reply = json.loads(await ws.recv())
    assert "result" in reply, reply
    return ws


async def _ended(ws: Any, timeout: float = 1.0) -> tuple[list[dict[str, Any]], int, str]:
    """Frames received until the server closed the session (within ``timeout``), and the close."""
    frames: list[dict[str, Any]] = []

    async def read() -> None:
        try:
            async for message in ws:
                frames.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    await asyncio.wait_for(read(), timeout)
    assert ws.close_code is not None
    return frames, ws.close_code, ws.close_reason


async def _still_open(ws: Any) -> None:
    await ws.send(json.dumps({"msg": "call", "id": 9, "method": "jobs.counts", "params": {}}))
    assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 5))


async def _token_id(srv: InProcessServer, user: str) -> str:
    async with srv.client() as admin:
        return str((await admin.call("tokens.list", {"user": user}))[-1]["id"])


async def test_revoking_a_token_on_one_server_ends_its_session_on_the_other(servers) -> None:
    a, b = servers
    token = await a.token("creator", "carol")
    ws = await _open(b, token)
    await _still_open(ws)
    async with a.client() as admin:
        started = time.monotonic()
        await admin.call("tokens.revoke", {"id": await _token_id(a, "carol")})
    frames, code, reason = await _ended(ws, timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert (code, reason) == (POLICY_VIOLATION, "token revoked")
    assert frames[-1]["error"]["code"] == "unauthenticated"


async def test_revocation_reaches_sessions_on_the_same_server_and_spares_others(server) -> None:
    token = await server.token("creator", "carol")
    other = await server.token("creator", "carol")  # the same user's second token stays good
    revoked, kept = await _open(server, token), await _open(server, other)
    async with server.client() as admin:
        tokens = await admin.call("tokens.list", {"user": "carol"})
        first = next(t["id"] for t in tokens if token.startswith(f"lj_{t['id']}_"))
        await admin.call("tokens.revoke", {"id": first})
    _, code, reason = await _ended(revoked)
    assert (code, reason) == (POLICY_VIOLATION, "token revoked")
    await _still_open(kept)
    await kept.close()


async def test_an_expiring_tokens_session_ends_at_expiry(clocked_server) -> None:
    srv = clocked_server
    await srv.token("creator", "dave")
    async with srv.client() as admin:
        token = (await admin.call("tokens.create", {"user": "dave", "expires": 60}))["token"]
    ws = await _open(srv, token)
    srv.clock.advance(59)
    await srv.settle()
    await _still_open(ws)  # not a moment early
    srv.clock.advance(2)
    _, code, reason = await _ended(ws)
    assert (code, reason) == (POLICY_VIOLATION, "token expired")


async def test_a_deleted_users_session_ends_on_every_server(servers) -> None:
    a, b = servers
    token = await a.token("worker", "erin")
    on_a, on_b = await _open(a, token), await _open(b, token)
    async with a.client() as admin:
        assert await admin.call("users.remove", {"name": "erin"}) is True
        assert "erin" not in {u["name"] for u in await admin.call("users.list")}
        assert await admin.call("tokens.list", {"user": "erin"}) == []
    for ws in (on_a, on_b):
        _, code, reason = await _ended(ws)
        assert code == POLICY_VIOLATION and reason.startswith("user deleted")


async def test_user_rm_from_the_command_line_ends_the_users_session(server) -> None:
    """``livejobs user rm`` writes the store from another process: its feed carries it."""
    token = await server.token("creator", "frank")
    ws = await _open(server, token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livejobs.cli",
        "user",
        "rm",
        "frank",
        "--db",
        str(server.db_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    assert b"removed frank" in out
    _, code, reason = await _ended(ws, timeout=2.0)
    assert code == POLICY_VIOLATION and reason.startswith("user deleted")


async def test_a_role_change_ends_the_session(server) -> None:
    """No method changes a role today; a record written by any server or tool is enough."""
    token = await server.token("manager", "gail")
    ws = await _open(server, token)
    store = server.services.store
    user = await store.get_record("users", "gail")
    await store.put_record("users", "gail", {**user, "role": "creator"})
    _, code, reason = await _ended(ws)
    assert code == POLICY_VIOLATION and "role" in reason


async def test_a_revoked_worker_is_stopped_and_its_job_handed_back(server) -> None:
    token = await server.token("worker", "hank")
    async with server.client() as admin:
        job = await admin.job("t").save()
    ws = await _open(server, token)
    start = {"types": ["t"], "worker_id": "w"}
    await ws.send(json.dumps({"msg": "call", "id": 2, "method": "worker.start", "params": start}))
    pushed = [json.loads(await ws.recv()) for _ in range(2)]
    assert {f["msg"] for f in pushed} == {"result", "job"}
    async with server.client() as admin:
        await admin.call("tokens.revoke", {"id": await _token_id(server, "hank")})
    _, _, reason = await _ended(ws)
    assert reason == "token revoked"
    async with server.client() as admin:  # released as the socket closes: a lost attempt
        doc = await wait_for_doc(admin, job.id, lambda d: d["status"] != "running")
        assert doc["lease"] is None


async def test_http_checks_the_token_on_every_request(server) -> None:
    token = await server.token("creator", "ivy")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.get("/api/jobs", headers=headers)).status_code == 200
        async with server.client() as admin:
            await admin.call("tokens.revoke", {"id": await _token_id(server, "ivy")})
        refused = await http.get("/api/jobs", headers=headers)
        assert refused.status_code == 401
        problem = refused.json()
        assert (problem["code"], problem["detail"]) == ("unauthenticated", "token revoked")
