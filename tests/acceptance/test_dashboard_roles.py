"""Issue 26: each role sees the controls the security model (livejobs.permissions) lets it use,
and no more: the page is drawn from the session's `methods`, so it is checked against the
roles' method table itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from livejobs.methods import grants
from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, open_job, row, sign_in
from tests.servers import ProcessServer, started

pytestmark = MARKS

ACTIONS = {
    "cancel": "jobs.cancel",
    "pause": "jobs.pause",
    "resume": "jobs.resume",
    "ready": "jobs.ready",
    "restart": "jobs.restart",
    "rerun": "jobs.rerun",
    "remove": "jobs.remove",
}


async def shown(locator) -> bool:
    return await locator.count() > 0 and await locator.first.is_visible()


@pytest.mark.parametrize("role", ["worker", "creator", "manager", "admin"])
async def test_each_role_is_offered_exactly_what_it_may_call(
    page: Page, live_server, role: str
) -> None:
    methods = grants()[role]
    token = await live_server.token(role, f"{role}-1")
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        if "jobs.create" in methods:  # a creator sees only its own jobs
            async with Client(live_server.ws_url, token=token) as own:
                job = await own.job("invoice", {"n": 1}).delay(3600).save()
        else:
            job = await admin.job("invoice", {"n": 1}).delay(3600).save()
    await sign_in(page, live_server, token)
    await expect(row(page, job.id)).to_be_visible(timeout=WAIT)

    assert await shown(page.locator("#new-job")) == ("jobs.create" in methods)
    assert await shown(page.locator("#tab-workers")) == ("workers.list" in methods)
    assert await shown(page.locator("#tab-queues")) == ("types.list" in methods)
    may_act = any(m in methods for m in ACTIONS.values())
    assert await shown(row(page, job.id).locator("td.sel input")) == may_act

    await open_job(page, job.id)
    offered = await page.locator("#detail-actions [data-action]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.action)"
    )
    assert set(offered) == {name for name, m in ACTIONS.items() if m in methods}

    await page.click("#tab-queues")
    line = page.locator('#queues-view tr[data-type="invoice"]')
    await expect(line).to_be_visible(timeout=WAIT)
    controls = await line.locator("td.controls button").count()
    assert (controls > 0) == ("types.pause" in methods or "types.set_limits" in methods)
    assert await shown(page.locator("#queues-add")) == ("types.set_limits" in methods)


async def test_tallies_under_a_callable_read_rule_leave_hidden_jobs_out(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manager kept from diaries by a callable rule sees tallies without them; past the
    10,000 jobs such a rule's counts read, the page says its counts are partial ("9,997+")."""
    monkeypatch.setenv("LIVEJOBS_RULES", "tests.rules_example:RULES")
    server = ProcessServer(tmp_path / "jobs.db")
    async with started(server):
        async with server.client() as admin:
            await admin.create_many([("diary", {"n": n}) for n in range(3)])
            await admin.create_many([("mail", {"n": n}) for n in range(2)])
        await sign_in(page, server, await server.token("manager", "mia"))
        ready = page.locator('#status-counts [data-key="ready"] .chip-count')
        await expect(ready).to_have_text("2", timeout=WAIT)
        async with server.client() as admin:
            await admin.create_many([("mail", {"n": n}) for n in range(9_999)])
        # the first 10,000 jobs read hold the three diaries, which are not counted
        await expect(ready).to_have_text("9,997+", timeout=WAIT)
