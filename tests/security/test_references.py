"""Security issue 20, item 12 and its class: a reference to a job the caller may not read
answers exactly as a reference to an id that does not exist.

``depends`` on another owner's job is refused as an unknown dependency (nothing is created,
nothing waits on it or is cancelled by it), and reading or controlling another owner's job by
id, alone or among bulk ids, answers ``not_found`` as for a random id: whether the job exists,
and how it ended, is not learnt.
"""

from __future__ import annotations

from typing import Any

import httpx

from livejobs_sdk import CallError, Client
from tests.servers import InProcessServer

RANDOM = "0123456789abcdef0123456789abcdef"


async def _ws(srv: InProcessServer, token: str, method: str, params: dict[str, Any]) -> Any:
    async with Client(srv.ws_url, token=token, reconnect=False) as client:
        try:
            return await client.call(method, params)
        except CallError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}


async def _http(srv: InProcessServer, token: str, method: str, params: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        response = await http.post(
            f"/api/call/{method}", json=params, headers={"Authorization": f"Bearer {token}"}
        )
        body = response.json()
        if response.is_error:  # a problem: compared with the WebSocket's error
            return {"error": {"code": body["code"], "message": body["detail"]}}
        return body["result"]


def _masked(answer: Any, job_id: str) -> Any:
    """The answer with the referenced id replaced, to compare it with a random id's."""
    if isinstance(answer, dict) and "error" in answer:
        error = answer["error"]
        return {"error": {**error, "message": error["message"].replace(job_id, "<id>")}}
    return answer


async def _world(srv: InProcessServer) -> dict[str, Any]:
    ann = await srv.token("creator", "ann")
    eve = await srv.token("creator", "eve")
    async with srv.client(ann) as client:
        waiting = (await client.call("jobs.create", {"type": "t", "delay": 3600}))["id"]
        failed = (await client.call("jobs.create", {"type": "t"}))["id"]
        await client.call("jobs.cancel", {"id": failed})
    return {"ann": ann, "eve": eve, "waiting": waiting, "cancelled": failed}


async def _store(srv: InProcessServer) -> list[dict[str, Any]]:
    return sorted(await srv.services.store.find({}, limit=1000), key=lambda d: d["id"])


async def _assert_same_as_random(
    srv: InProcessServer, w: dict[str, Any], method: str, spec: Any
) -> None:
    """``spec(id)`` makes the params; each of ann's jobs answers eve as a random id does."""
    for call in (_ws, _http):
        for job_id in (w["waiting"], w["cancelled"]):
            before = await _store(srv)
            answer = await call(srv, w["eve"], method, spec(job_id))
            unknown = await call(srv, w["eve"], method, spec(RANDOM))
            assert "error" in answer, f"{method} via {call.__name__} on ann's job: {answer}"
            assert _masked(answer, job_id) == _masked(unknown, RANDOM), call.__name__
            assert await _store(srv) == before, f"{method} changed the store"


async def test_depends_on_another_owners_job_is_an_unknown_dependency(server) -> None:
    w = await _world(server)
    await _assert_same_as_random(
        server, w, "jobs.create", lambda job_id: {"type": "t", "depends": [job_id]}
    )
    await _assert_same_as_random(
        server,
        w,
        "jobs.create_many",
        lambda job_id: {"jobs": [{"type": "t"}, {"type": "t", "depends": [job_id]}]},
    )
    async with server.client(w["eve"]) as client:
        assert await client.call("jobs.find", {"filter": {}}) == []  # nothing waits on ann's


async def test_an_owner_still_depends_on_their_own_jobs(server) -> None:
    w = await _world(server)
    async with server.client(w["ann"]) as client:
        job = await client.call("jobs.create", {"type": "t", "depends": [w["waiting"]]})
        assert job["status"] == "waiting" and job["depends"] == [w["waiting"]]
        gone = await client.call("jobs.create", {"type": "t", "depends": [w["cancelled"]]})
        assert gone["status"] == "cancelled"  # the owner may learn how it ended


async def test_reading_or_controlling_another_owners_job_answers_as_an_unknown_id(
    server,
) -> None:
    w = await _world(server)
    for method in ("jobs.get", "jobs.cancel", "jobs.pause", "jobs.rerun", "jobs.remove"):
        await _assert_same_as_random(server, w, method, lambda job_id: {"id": job_id})
    await _assert_same_as_random(
        server, w, "jobs.log", lambda job_id: {"id": job_id, "message": "m"}
    )


async def test_bulk_ids_answer_the_same_for_any_id(server) -> None:
    """Bulk ids are for managers and admins, who may read every job; a creator is refused
    before any id is looked at."""
    w = await _world(server)
    await _assert_same_as_random(server, w, "jobs.cancel", lambda job_id: {"ids": [job_id]})
    await _assert_same_as_random(
        server, w, "jobs.restart", lambda job_id: {"ids": [RANDOM, job_id]}
    )


async def test_a_worker_limited_to_types_cannot_probe_other_types(server) -> None:
    w = await _world(server)
    mailer = await server.token("worker", "mailer", types=["mail"])
    w = {**w, "eve": mailer}
    await _assert_same_as_random(server, w, "jobs.get", lambda job_id: {"id": job_id})


async def test_a_restart_meets_only_its_owners_key(server) -> None:
    """Bringing a keyed job back to life checks the key among its owner's jobs only: another
    owner's live job with the same key neither blocks it nor is named."""
    w = await _world(server)
    async with server.client(w["ann"]) as ann:
        anns = await ann.call("jobs.create", {"type": "t", "key": "k", "delay": 3600})
    async with server.client(w["eve"]) as eve:
        eves = await eve.call("jobs.create", {"type": "t", "key": "k", "delay": 3600})
        assert eves["id"] != anns["id"]
        await eve.call("jobs.cancel", {"id": eves["id"]})
        back = await eve.call("jobs.restart", {"id": eves["id"]})
        assert back["id"] == eves["id"] and back["status"] != "cancelled"
