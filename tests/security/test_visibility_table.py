"""Issue 20, the visibility model: every role × method × field, read and filter, against a
table written here by hand (not derived from ``livejobs.visibility``), so a change to the
allow-list that nobody meant shows up as a failing cell. Also: docs/security.md shows the
allow-list as the server applies it.

Roles: admin, manager, creator (the job's owner), worker (another worker of the job's type);
the holder is the worker the job is leased to, reading its claim reply or its push.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from livejobs import visibility
from livejobs.query import MISSING, resolve
from livejobs_sdk import CallError, Client, WorkerJob
from tests.helpers import running_worker
from tests.security import world as wd

ROLES = ("admin", "manager", "creator", "worker")
ALL = set(ROLES)
OWNERS = {"admin", "manager", "creator"}
STAFF = {"admin", "manager"}

#: field path → the roles that read it, by any of get, find, subscribe and HTTP
READ: dict[str, set[str]] = {
    "id": ALL,
    "type": ALL,
    "status": ALL,
    "attempts": ALL,
    "progress": ALL,
    "data": OWNERS,
    "result": OWNERS,
    "log": OWNERS,
    "owner": OWNERS,
    "failures": OWNERS,
    "failures.0.error": OWNERS,
    "failures.0.worker": OWNERS,
    "lease": OWNERS,
    "lease.expires": OWNERS,
    "lease.worker": OWNERS,
    "lease.token": set(),
    "worker": OWNERS,
    "target": OWNERS,
    "due": STAFF,
    "private": {"admin"},
    "trace": OWNERS,
}

#: fields no subscription frame carries, whoever subscribes
NOT_LIVE = {"private", "trace"}

#: field path → the roles that may filter and sort on it
FILTER: dict[str, set[str]] = {
    "status": ALL,
    "type": ALL,
    "created": ALL,
    "data.to": OWNERS,
    "result": OWNERS,
    "owner": OWNERS,
    "private": {"admin"},
    "private.password": {"admin"},
    "lease.token": set(),
    "lease.worker": STAFF,
    "worker": STAFF,
    "target": STAFF,
    "failures.0.worker": STAFF,
    "trace.traceparent": STAFF,
}


@pytest.fixture
async def w(tmp_path):
    async for built in wd.build(tmp_path):
        yield built


@pytest.mark.parametrize("method", list(wd.READERS))
async def test_each_role_reads_exactly_its_fields(w, method):
    docs = {role: await wd.READERS[method](w, role) for role in ROLES}
    live = method == "subscribe"
    wrong = [
        f"{role} {'reads' if shown else 'misses'} {path}"
        for path, readers in READ.items()
        for role in ROLES
        if (shown := resolve(docs[role], path) is not MISSING)
        != (role in readers and not (live and path in NOT_LIVE))
    ]
    assert not wrong, f"{method}: {wrong}"


async def test_the_holder_reads_everything_in_its_claim_reply_and_push(w):
    assert all(resolve(w.claimed, path) is not MISSING for path in READ)
    srv = w.srv
    pushed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def handler(job: WorkerJob) -> None:
        pushed.set_result(dict(job.doc))

    token = await srv.token("worker", "w3")
    async with Client(srv.ws_url, token=token) as w3, running_worker(w3, "push", handler):
        async with srv.client() as admin:
            await admin.call("jobs.create", {"type": "push", "private": wd.PRIVATE})
        doc = await asyncio.wait_for(pushed, 10)
    assert doc["private"] == wd.PRIVATE and len(doc["lease"]["token"]) == 32
    assert doc["lease"]["worker"] and "data" in doc and "owner" in doc


async def test_each_role_filters_and_sorts_only_on_its_fields(w):
    wrong: list[str] = []
    async with httpx.AsyncClient(base_url=w.srv.http_url) as http:
        for role in ROLES:
            async with Client(w.srv.ws_url, token=w.tokens[role]) as client:
                for path, filterers in FILTER.items():
                    allowed = role in filterers
                    for how, error in await _tries(client, http, w.tokens[role], path):
                        if allowed and error is not None:
                            wrong.append(f"{role} refused {how} on {path}: {error}")
                        elif not allowed and not _refusal_naming(error, path):
                            wrong.append(f"{role} not refused {how} on {path}: {error}")
    assert not wrong, wrong


async def _tries(
    client: Client, http: httpx.AsyncClient, token: str, path: str
) -> list[tuple[str, str | None]]:
    """Every way to use ``path`` in a query, over WS and HTTP: (how, error or None)."""
    filter = {path: {"$gte": "a"}}
    calls = {
        "find filter": ("jobs.find", {"filter": filter}),
        "find sort": ("jobs.find", {"sort": [[path, 1]]}),
        "counts filter": ("jobs.counts", {"filter": filter}),
        "find $or": ("jobs.find", {"filter": {"$or": [{"status": "x"}, filter]}}),
    }
    results: list[tuple[str, str | None]] = []
    for how, (method, params) in calls.items():
        results.append((f"ws {how}", await _ws(client, method, params)))
        response = await http.post(
            f"/api/call/{method}", json=params, headers={"Authorization": f"Bearer {token}"}
        )
        problem = None if response.status_code == 200 else response.json()
        error = problem and f"{problem['code']}: {problem['detail']}"
        results.append((f"http {how}", error))
    sub_error = await _ws(client, "subscribe", {"filter": filter})
    results.append(("subscribe", sub_error))
    return results


async def _ws(client: Client, method: str, params: dict[str, Any]) -> str | None:
    try:
        result = await client.call(method, params)
    except CallError as exc:
        return f"{exc.code}: {exc.message}"
    if method == "subscribe":
        await client.call("unsubscribe", {"sub": result["sub"]})
    return None


def _refusal_naming(error: str | None, path: str) -> bool:
    return error is not None and "forbidden" in error and repr(path) in error


# -- the table in the docs is the table the server applies -------------------------------------


def test_docs_show_the_allow_list_the_server_applies():
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    assert visibility.table() in text, "regenerate with: python -m livejobs.visibility"


def test_every_job_field_is_in_the_allow_list():
    """A field the model adds and the table forgets would silently reach nobody."""
    from livejobs.jobs.model import blank_job

    assert set(blank_job("t", None, owner="o", now=0)) == set(visibility.FIELDS)


def test_an_unknown_role_reads_nothing_and_every_role_here_is_known():
    assert visibility.project({"id": "x", "data": 1}, "intruder") == {}
    assert set(ROLES) == set(visibility.ROLES)
