"""A server with one user per role and one running job, and every way a role reads a job.

The job ``secret`` belongs to creator alice, carries ``private`` data, failed once and runs
now under worker w1 (the holder, with a one-hour lease); w2 is another worker that may claim
the same type. ``READERS`` are the methods a client reads a job by, over WebSocket and HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from livejobs_sdk import CallError, Client
from tests.helpers import collect_until_ready
from tests.servers import InProcessServer

PRIVATE = {"password": "hunter2"}
DATA = {"to": "alice@example.com"}


@dataclass
class World:
    srv: InProcessServer
    tokens: dict[str, str]
    job_id: str
    #: the holder's own claim reply: the only place its lease token travels
    claimed: dict[str, Any]
    #: the lease token of the first, failed attempt
    stale: str

    @property
    def token(self) -> str:
        return str(self.claimed["lease"]["token"])


async def build(tmp_path: Any) -> AsyncIterator[World]:
    srv = InProcessServer(tmp_path / "jobs.db")
    await srv.start()
    try:
        tokens = {
            "admin": srv.admin_token,
            "manager": await srv.token("manager", "mia"),
            "creator": await srv.token("creator", "alice"),
            "worker": await srv.token("worker", "w2"),
            "holder": await srv.token("worker", "w1"),
        }
        async with Client(srv.ws_url, token=tokens["creator"]) as alice:
            spec = {"type": "mail", "data": DATA, "private": PRIVATE, "retry": {"retries": 3}}
            job_id = (await alice.call("jobs.create", spec))["id"]
        async with Client(srv.ws_url, token=tokens["holder"]) as w1:
            [first] = await w1.call("jobs.claim", {"types": ["mail"]})
            failed = {"id": job_id, "lease": first["lease"]["token"], "error": "flaky"}
            await w1.call("jobs.fail", failed)
            await _make_ready(srv, job_id)  # the retry waits: start it now
            [claimed] = await w1.call("jobs.claim", {"types": ["mail"], "lease": 3600})
        yield World(srv, tokens, job_id, claimed, first["lease"]["token"])
    finally:
        await srv.stop()


async def _make_ready(srv: InProcessServer, job_id: str) -> None:
    async with srv.client() as admin:
        doc = await admin.get_job(job_id)
        if doc["status"] == "waiting":
            await admin.call("jobs.ready", {"id": job_id})


# -- reading a job, every way a client can ---------------------------------------------------

Reader = Callable[[World, str], Awaitable[dict[str, Any]]]


async def ws_get(w: World, role: str) -> dict[str, Any]:
    async with Client(w.srv.ws_url, token=w.tokens[role]) as client:
        return await client.get_job(w.job_id)


async def ws_find(w: World, role: str) -> dict[str, Any]:
    async with Client(w.srv.ws_url, token=w.tokens[role]) as client:
        [doc] = await client.find({"id": w.job_id})
        return doc


async def ws_subscribe(w: World, role: str) -> dict[str, Any]:
    async with (
        Client(w.srv.ws_url, token=w.tokens[role]) as client,
        client.subscribe({"id": w.job_id}) as sub,
    ):
        await collect_until_ready(sub)
        return sub.docs[w.job_id]


async def http(w: World, role: str, verb: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=w.srv.http_url) as client:
        headers = {"Authorization": f"Bearer {w.tokens[role]}"}
        return await client.request(verb, f"/api{path}", json=body, headers=headers)


async def http_get(w: World, role: str) -> dict[str, Any]:
    response = await http(w, role, "GET", f"/jobs/{w.job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


async def http_list(w: World, role: str) -> dict[str, Any]:
    response = await http(w, role, "GET", "/jobs")
    assert response.status_code == 200, response.text
    [doc] = [d for d in response.json()["result"] if d["id"] == w.job_id]
    return dict(doc)


async def http_call(w: World, role: str) -> dict[str, Any]:
    response = await http(w, role, "POST", "/call/jobs.get", {"id": w.job_id})
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


READERS: dict[str, Reader] = {
    "get": ws_get,
    "find": ws_find,
    "subscribe": ws_subscribe,
    "http-get": http_get,
    "http-list": http_list,
    "http-call": http_call,
}


# -- filtering, every way a client can --------------------------------------------------------

Query = Callable[[World, str, dict[str, Any]], Awaitable[str | None]]


async def ws_query(w: World, role: str, method: str, params: dict[str, Any]) -> str | None:
    """The error code of one call (None when it succeeds)."""
    async with Client(w.srv.ws_url, token=w.tokens[role]) as client:
        try:
            await client.call(method, params)
        except CallError as exc:
            return f"{exc.code}: {exc.message}"
        return None


async def http_query(w: World, role: str, method: str, params: dict[str, Any]) -> str | None:
    response = await http(w, role, "POST", f"/call/{method}", params)
    if response.status_code == 200:
        return None
    problem = response.json()
    return f"{problem['code']}: {problem['detail']}"


def leaks(value: Any, secret: str) -> bool:
    return secret in json.dumps(value)
