"""Issue 20, item 1: a lease token reaches only the worker it was issued to.

The attack: read a running job (as another worker, its creator, a manager or an admin; over
the WebSocket, a subscription or HTTP), take ``lease.token`` from it, and finish the job with a
forged result. Also: a guessed token, and the token of the job's earlier attempt, are refused.
After every refused report the job is exactly as it was.
"""

from __future__ import annotations

from typing import Any

import pytest

from livejobs_sdk import CallError, Client
from tests.helpers import collect_until_ready
from tests.security import world as wd

THIEVES = ("worker", "creator", "manager", "admin")


@pytest.fixture
async def w(tmp_path):
    async for built in wd.build(tmp_path):
        yield built


async def _stored(w: wd.World) -> dict[str, Any]:
    doc = await w.srv.services.store.get(w.job_id)
    assert doc is not None
    return doc


async def _ws_done(w: wd.World, role: str, token: str) -> str | None:
    async with Client(w.srv.ws_url, token=w.tokens[role]) as client:
        try:
            await client.call("jobs.done", {"id": w.job_id, "lease": token, "result": "forged"})
        except CallError as exc:
            return exc.code
        return None


async def _http_done(w: wd.World, role: str, token: str) -> str | None:
    body = {"lease": token, "result": "forged"}
    response = await wd.http(w, role, "POST", f"/jobs/{w.job_id}/done", body)
    return None if response.status_code == 200 else str(response.json()["code"])


DONE = {"ws": _ws_done, "http": _http_done}


@pytest.mark.parametrize("transport", list(DONE))
@pytest.mark.parametrize("method", list(wd.READERS))
async def test_no_reader_learns_the_token_to_finish_the_job(w, method, transport):
    before = await _stored(w)
    for role in THIEVES:
        doc = await wd.READERS[method](w, role)
        assert not wd.leaks(doc, w.token), f"{role} read the lease token by {method}"
        stolen = (doc.get("lease") or {}).get("token") or "0" * 32
        code = await DONE[transport](w, role, stolen)
        assert code in ("forbidden", "not_found"), f"{role} finished the job ({code})"
    assert await _stored(w) == before


async def test_the_holder_rereading_its_job_does_not_get_the_token_back(w):
    for method, read in wd.READERS.items():
        doc = await read(w, "holder")
        # it reads the data of the job it runs (a worker's subscriptions never carry data)
        assert doc.get("data") == (None if method == "subscribe" else wd.DATA), method
        assert not wd.leaks(doc, w.token) and "private" not in doc, method


async def test_live_frames_never_carry_the_token(w):
    """A subscriber watching the claim happen sees the job change, not its token."""
    srv = w.srv
    async with srv.client() as admin, admin.subscribe({"type": "watched"}) as sub:
        await collect_until_ready(sub)
        created = await admin.call("jobs.create", {"type": "watched"})
        async with Client(srv.ws_url, token=w.tokens["holder"]) as w1:
            [claimed] = await w1.call("jobs.claim", {"types": ["watched"]})
            while (sub.docs.get(created["id"]) or {}).get("status") != "running":
                await sub.next(5)
            frame = sub.docs[created["id"]]
            assert "token" not in frame["lease"] and frame["lease"]["worker"] == "w1"
            assert not wd.leaks(frame, claimed["lease"]["token"])


@pytest.mark.parametrize("transport", list(DONE))
async def test_a_guessed_or_stale_token_is_refused(w, transport):
    before = await _stored(w)
    for role, token in (("worker", "0" * 32), ("holder", w.stale), ("holder", "f" * 32)):
        assert await DONE[transport](w, role, token) == "forbidden", (role, token)
    assert await _stored(w) == before
    assert await DONE[transport](w, "holder", w.token) is None  # the real one still works
