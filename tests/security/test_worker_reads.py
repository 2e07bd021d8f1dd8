"""Issue 20, item 15: a worker token reads only what a worker needs.

The rule (docs/security.md): a worker reads jobs of the types it may claim, and of those only
where they stand in the queue (id, type, status, times, progress...); the data, result, log,
owner and worker of a job only while it runs or ran it; ``private`` and the lease token only in
its own claim reply or push. The attack: open the dashboard (a subscription to every job) or
``GET /api/jobs`` with a worker token and read every job's data.
"""

from __future__ import annotations

import pytest

from livejobs_sdk import CallError, Client
from tests.helpers import collect_until_ready
from tests.security import world as wd

SECRETS = ("data", "result", "log", "owner", "private", "failures", "worker", "lease")


@pytest.fixture
async def w(tmp_path):
    async for built in wd.build(tmp_path):
        async with Client(built.srv.ws_url, token=built.tokens["creator"]) as alice:
            await alice.call("jobs.create", {"type": "report", "data": {"salary": 1}})
        yield built


async def test_the_dashboard_of_a_worker_shows_no_job_data(w):
    """What web/ does: ``subscribe({})``, then render every job it receives."""
    async with (
        Client(w.srv.ws_url, token=w.tokens["worker"]) as w2,
        w2.subscribe({}) as sub,
    ):
        await collect_until_ready(sub)
        assert len(sub.docs) == 2
        for doc in sub.docs.values():
            assert not set(SECRETS) & set(doc), doc
            assert {"id", "type", "status", "progress"} <= set(doc)


@pytest.mark.parametrize("path", ["/jobs", "/jobs?filter=%7B%22type%22%3A%22report%22%7D"])
async def test_http_lists_show_a_worker_no_job_data(w, path):
    response = await wd.http(w, "worker", "GET", path)
    assert response.status_code == 200
    docs = response.json()["result"]
    assert docs and all(not set(SECRETS) & set(doc) for doc in docs), docs


async def test_a_worker_cannot_filter_its_way_to_the_data(w):
    for transport in (wd.ws_query, wd.http_query):
        error = await transport(w, "worker", "jobs.find", {"filter": {"data.salary": 1}})
        assert error is not None and error.startswith("forbidden"), error


async def test_a_worker_limited_to_some_types_reads_no_other_type(w):
    w.tokens["mailer"] = await w.srv.token("worker", "mailer", types=["mail"])
    async with (
        Client(w.srv.ws_url, token=w.tokens["mailer"]) as mailer,
        w.srv.client() as admin,
    ):
        assert {d["type"] for d in await mailer.find({})} == {"mail"}
        [report] = await admin.find({"type": "report"})
        with pytest.raises(CallError) as info:
            await mailer.get_job(report["id"])
        # forbidden, or not_found once a job one may not read answers as a missing one
        assert info.value.code in ("forbidden", "not_found")
        assert "salary" not in info.value.message


async def test_the_worker_running_a_job_reads_its_data_and_not_its_secrets(w):
    for read in (wd.ws_get, wd.ws_find, wd.http_get, wd.http_list):
        doc = await read(w, "holder")
        assert doc["data"] == wd.DATA and doc["lease"]["worker"] == "w1"
        assert "private" not in doc and "token" not in doc["lease"]
    assert w.claimed["private"] == wd.PRIVATE  # it had those in its claim reply
