"""Allow and deny rules hold on every path that does what they name, not only the obvious one.

A rule about ``jobs.create`` sees each job's own params whether it comes alone or in a batch
(``jobs.create_many``, ``then``, ``POST /api/jobs/batch``); a declarative rule naming a ``type``
holds for the calls that name their types as a list (``jobs.claim``, ``worker.start``): a worker
denied a type can neither claim its jobs nor have them pushed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from livejobs.service import ruled_counts
from livejobs_sdk import CallError, Client
from tests.helpers import collect_until_ready
from tests.servers import InProcessServer, started

#: tests/rules_example.py denies creating a job whose data says it is bigger than 1000
TOO_BIG = {"type": "report", "data": {"size": 10_000}}
SMALL = {"type": "report", "data": {"size": 10}}
CALLABLE_RULES = "tests.rules_example:RULES"


async def _stored(srv: InProcessServer) -> int:
    return await srv.services.store.count({})


async def test_a_rule_on_a_creates_params_holds_in_a_batch(tmp_path: Any) -> None:
    srv = InProcessServer(tmp_path / "jobs.db", rules="tests.rules_example:RULES")
    await srv.start()
    try:
        token = await srv.token("creator", "carol")
        batches = [
            {"jobs": [SMALL, TOO_BIG]},
            {"jobs": [SMALL], "then": TOO_BIG},
        ]
        async with Client(srv.ws_url, token=token) as carol:
            for batch in batches:
                with pytest.raises(CallError) as info:
                    await carol.call("jobs.create_many", batch)
                assert info.value.code == "forbidden", batch
        async with httpx.AsyncClient(base_url=srv.http_url) as http:
            auth = {"Authorization": f"Bearer {token}"}
            for batch in batches:
                answer = await http.post("/api/jobs/batch", json=batch, headers=auth)
                assert answer.status_code == 403, answer.text
                assert answer.json()["code"] == "forbidden"
        assert await _stored(srv) == 0
        async with Client(srv.ws_url, token=token) as carol:  # the rule refuses only big ones
            assert len((await carol.call("jobs.create_many", {"jobs": [SMALL]}))["ids"]) == 1
    finally:
        await srv.stop()


PAYROLL_DENIED = {"deny": [{"role": "worker", "method": "jobs.claim", "type": "payroll"}]}


async def test_a_declarative_type_rule_holds_for_claims_of_many_types(tmp_path: Any) -> None:
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": PAYROLL_DENIED})
    await srv.start()
    try:
        async with srv.client() as admin:
            await admin.call("jobs.create", {"type": "payroll", "private": {"iban": "DE00"}})
        token = await srv.token("worker", "wendy")
        claims = [{"types": ["payroll"]}, {"types": ["mail", "payroll"]}]
        async with Client(srv.ws_url, token=token) as wendy:
            for claim in claims:
                with pytest.raises(CallError) as info:
                    await wendy.call("jobs.claim", claim)
                assert info.value.code == "forbidden", claim
            with pytest.raises(CallError) as info:
                await wendy.call("worker.start", {"types": ["payroll"]})
            assert info.value.code == "forbidden"
            assert await wendy.call("jobs.claim", {"types": ["mail"]}) == []
        async with httpx.AsyncClient(base_url=srv.http_url) as http:
            auth = {"Authorization": f"Bearer {token}"}
            answer = await http.post("/api/claim", json=claims[1], headers=auth)
            assert answer.status_code == 403, answer.text
        assert await srv.services.store.count({"status": "running"}) == 0
    finally:
        await srv.stop()


async def test_a_type_allowed_alone_does_not_allow_a_claim_of_others(tmp_path: Any) -> None:
    """An allow rule naming one type lets a creator claim that type, not a list with others."""
    rules = {"allow": [{"role": "creator", "method": "jobs.claim", "type": "mail"}]}
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": rules})
    await srv.start()
    try:
        async with srv.client() as admin:
            await admin.call("jobs.create", {"type": "payroll"})
        token = await srv.token("creator", "carol")
        async with Client(srv.ws_url, token=token) as carol:
            assert await carol.call("jobs.claim", {"types": ["mail"]}) == []
            with pytest.raises(CallError) as info:
                await carol.call("jobs.claim", {"types": ["mail", "payroll"]})
            assert info.value.code == "forbidden"
        assert await srv.services.store.count({"status": "running"}) == 0
    finally:
        await srv.stop()


# -- a rule that narrows reading narrows every read ------------------------------------------

NO_PAYROLL_FOR_MANAGERS = {"deny": [{"role": "manager", "method": "jobs.get", "type": "payroll"}]}


async def _every_read(srv: InProcessServer, token: str) -> dict[str, Any]:
    """What a caller learns of the store's jobs, every way it may read them."""
    reads: dict[str, Any] = {}
    async with Client(srv.ws_url, token=token) as client:
        reads["find"] = sorted(d["type"] for d in await client.find({}))
        reads["counts"] = await client.counts({})
        async with client.subscribe({}) as sub:
            await collect_until_ready(sub)
            reads["subscribe"] = sorted(d["type"] for d in sub.docs.values())
        async with client.subscribe({}, sort={"created": 1}, limit=10) as window:
            await collect_until_ready(window)
            reads["window"] = sorted(d["type"] for d in window.docs.values())
        async with client.subscribe({}, counts=True) as feed:
            await collect_until_ready(feed)
            reads["count feed"] = feed.counts["type"]
    async with httpx.AsyncClient(base_url=srv.http_url) as http:
        answer = await http.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
        reads["http"] = sorted(d["type"] for d in answer.json()["result"])
    return reads


async def test_a_rule_denying_reads_of_a_type_hides_it_from_every_read(tmp_path: Any) -> None:
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": NO_PAYROLL_FOR_MANAGERS})
    await srv.start()
    try:
        async with srv.client() as admin:
            payroll = (await admin.call("jobs.create", {"type": "payroll"}))["id"]
            await admin.call("jobs.create", {"type": "mail"})
        mia = await srv.token("manager", "mia")
        async with Client(srv.ws_url, token=mia) as client:
            with pytest.raises(CallError) as info:
                await client.get_job(payroll)
            assert info.value.code == "not_found"
        reads = await _every_read(srv, mia)
        assert reads == {
            "find": ["mail"],
            "counts": {"status": {"ready": 1}, "type": {"mail": 1}},
            "subscribe": ["mail"],
            "window": ["mail"],
            "count feed": {"mail": 1},
            "http": ["mail"],
        }
        both = await _every_read(srv, srv.admin_token)  # the rule names managers only
        assert both["find"] == ["mail", "payroll"]
    finally:
        await srv.stop()


async def test_a_rule_denying_every_read_leaves_reads_by_filter_empty(tmp_path: Any) -> None:
    rules = {"deny": [{"role": "manager", "method": "jobs.get"}]}
    srv = InProcessServer(tmp_path / "jobs.db", extra={"rules": rules})
    await srv.start()
    try:
        async with srv.client() as admin:
            await admin.call("jobs.create", {"type": "mail"})
        reads = await _every_read(srv, await srv.token("manager", "mia"))
        assert reads == {
            "find": [],
            "counts": {"status": {}, "type": {}},
            "subscribe": [],
            "window": [],
            "count feed": {},
            "http": [],
        }
    finally:
        await srv.stop()


@pytest.fixture
async def ruled(tmp_path: Any) -> AsyncIterator[InProcessServer]:
    """A server under tests/rules_example.py, which keeps managers from reading diaries."""
    async with started(InProcessServer(tmp_path / "jobs.db", rules=CALLABLE_RULES)) as (srv,):
        yield srv


async def _a_diary_and_a_mail(srv: InProcessServer, admin: Client) -> str:
    """Creates one job of each; returns a manager's token."""
    await admin.call("jobs.create", {"type": "diary", "data": {"dear": "diary"}})
    await admin.call("jobs.create", {"type": "mail"})
    return await srv.token("manager", "mia")


async def test_a_callable_rule_denying_reads_narrows_find(ruled: InProcessServer) -> None:
    """``jobs.find`` (WebSocket and HTTP) leaves the diaries out, as ``jobs.get`` refuses them."""
    async with ruled.client() as admin:
        mia = await _a_diary_and_a_mail(ruled, admin)
    async with Client(ruled.ws_url, token=mia) as client:
        assert [d["type"] for d in await client.find({})] == ["mail"]
    async with httpx.AsyncClient(base_url=ruled.http_url) as http:
        answer = await http.get("/api/jobs", headers={"Authorization": f"Bearer {mia}"})
        assert [d["type"] for d in answer.json()["result"]] == ["mail"]


async def test_a_callable_rule_denying_reads_narrows_subscriptions(ruled: InProcessServer) -> None:
    """The same rule holds for a live subscription: its snapshot leaves the diaries out, and
    a diary created or changed later never reaches it, as ``jobs.get`` would refuse it."""
    async with ruled.client() as admin:
        mia = await _a_diary_and_a_mail(ruled, admin)
        async with Client(ruled.ws_url, token=mia) as client, client.subscribe({}) as sub:
            await collect_until_ready(sub)
            assert sorted(d["type"] for d in sub.docs.values()) == ["mail"]
            await admin.call("jobs.create", {"type": "diary", "data": {"second": 2}})
            last = (await admin.call("jobs.create", {"type": "mail"}))["id"]
            while last not in sub.docs:  # frames come in commit order: a diary first
                await sub.next(10)
            assert sorted(d["type"] for d in sub.docs.values()) == ["mail", "mail"]


async def test_a_callable_rule_denying_reads_narrows_live_windows(ruled: InProcessServer) -> None:
    """A live window (the dashboard's job list) holds the jobs the rule lets through: its rows
    are read on past the hidden ones until the window is full, and ``skip`` counts only rows
    its reader may see."""
    async with ruled.client() as admin:
        for n in range(6):
            await admin.call("jobs.create", {"type": "diary", "data": {"n": n}})
            await admin.call("jobs.create", {"type": "mail", "data": {"n": n}})
        mia = await ruled.token("manager", "mia")
        async with Client(ruled.ws_url, token=mia) as client:
            newest = {"created": -1}
            async with client.subscribe({}, sort=newest, limit=3, skip=1) as window:
                await collect_until_ready(window)
                shown = [(d["type"], d["data"]["n"]) for d in window.docs.values()]
                assert sorted(shown) == [("mail", 2), ("mail", 3), ("mail", 4)]
                await admin.call("jobs.create", {"type": "diary", "data": {"n": 6}})
                last = await admin.call("jobs.create", {"type": "mail", "data": {"n": 6}})
                while not any(d["data"]["n"] == 5 for d in window.docs.values()):
                    await window.next(10)
                shown = [(d["type"], d["data"]["n"]) for d in window.docs.values()]
                assert sorted(shown) == [("mail", 3), ("mail", 4), ("mail", 5)]
                assert last["id"] not in window.docs  # skipped: the newest visible one


async def test_a_callable_rule_denying_reads_narrows_counts(ruled: InProcessServer) -> None:
    """Counts (``jobs.counts`` and a count feed, the dashboard's tallies) count only the jobs
    the rule lets through, job by job: a hidden diary is neither counted at first nor later."""
    async with ruled.client() as admin:
        mia = await _a_diary_and_a_mail(ruled, admin)
        async with Client(ruled.ws_url, token=mia) as client:
            assert await client.counts({}) == {"status": {"ready": 1}, "type": {"mail": 1}}
            async with client.subscribe({}, counts=True) as feed:
                await collect_until_ready(feed)
                assert feed.counts["type"] == {"mail": 1}
                assert feed.counts["by_type"] == {"mail": {"ready": 1}}
                await admin.call("jobs.create", {"type": "diary"})
                await admin.call("jobs.create", {"type": "mail"})
                while feed.counts["type"].get("mail") != 2:
                    await feed.next(10)
                assert feed.counts == {
                    "status": {"ready": 2},
                    "type": {"mail": 2},
                    "by_type": {"mail": {"ready": 2}},
                }
        assert (await admin.counts({}))["type"] == {"diary": 2, "mail": 2}


async def test_counts_under_a_callable_rule_say_when_they_stopped_short(
    ruled: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting job by job reads at most ``READER_SCAN`` jobs a count: past that, the answer
    says ``partial`` rather than count what the rule hides or read without bound."""
    monkeypatch.setattr(ruled_counts, "READER_SCAN", 3)
    async with ruled.client() as admin:
        await admin.create_many([("mail", {"n": n}) for n in range(4)])
        mia = await ruled.token("manager", "mia")
        async with Client(ruled.ws_url, token=mia) as client:
            assert await client.counts({}) == {
                "status": {"ready": 3},
                "type": {"mail": 3},
                "partial": True,
            }
            assert await client.counts({"data.n": {"$lt": 2}}) == {
                "status": {"ready": 2},
                "type": {"mail": 2},
            }
            async with client.subscribe({}, counts=True) as feed:
                await collect_until_ready(feed)
                assert feed.counts["partial"] is True
