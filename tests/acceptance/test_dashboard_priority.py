"""The job detail's priority: a role that may call `jobs.set_priority` changes a queued job's
priority from a select of the named levels; a running or finished job, or a role without the
method, shows it as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, open_job, row, sign_in
from tests.servers import ProcessServer

pytestmark = MARKS

SELECT = "#detail-facts #detail-priority"


@pytest.mark.parametrize("role", ["admin", "manager"])
async def test_picking_high_moves_a_ready_job_ahead(page: Page, live_server, role: str) -> None:
    token = live_server.admin_token if role == "admin" else await live_server.token(role, "mia")
    async with Client(live_server.ws_url, token=token) as client:
        await client.job("mail", {"n": 1}).save()  # older, normal
        job = await client.job("mail", {"n": 2}).save()
        await sign_in(page, live_server, token)
        await open_job(page, job.id)
        select = page.locator(SELECT)
        await expect(select).to_have_value("0", timeout=WAIT)
        await expect(select.locator("option:checked")).to_have_text("normal (0)")

        await select.select_option(label="high (-10)")
        await expect(page.locator("#toasts")).to_contain_text("Priority: high (-10)", timeout=WAIT)
        await expect(select).to_have_value("-10")
        await expect(select).to_be_enabled()
        await expect(page.locator("#detail-audit")).to_contain_text("priority 0 → -10")
        [stored] = await client.get_jobs([job.id])
        assert stored["priority"] == -10

        # A change from elsewhere is pushed; a value that is no level is offered as itself.
        await client.call("jobs.set_priority", {"id": job.id, "priority": 3})
        await expect(select).to_have_value("3", timeout=WAIT)
        await expect(select.locator("option:checked")).to_have_text("3")
        await select.select_option("-10")
        await expect(select).to_have_value("-10", timeout=WAIT)
        await expect(select.locator("option")).to_have_count(5)  # the custom 3 is gone

    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        [claimed] = await admin.call("jobs.claim", {"types": ["mail"], "limit": 1})
    assert claimed["id"] == job.id  # before the older normal one


async def test_a_refused_change_says_why_and_shows_the_stored_priority(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deny rule the page cannot know of (tests/rules_example.py: a ledger's priority is
    fixed): the server refuses, the toast says so, and the select shows the stored value."""
    monkeypatch.setenv("LIVEJOBS_RULES", "tests.rules_example:RULES")
    server = ProcessServer(tmp_path / "jobs.db")
    await server.start()
    try:
        async with Client(server.ws_url, token=server.admin_token) as admin:
            job = await admin.job("ledger").save()
            await sign_in(page, server, server.admin_token)
            await open_job(page, job.id)
            select = page.locator(SELECT)
            await expect(select).to_have_value("0", timeout=WAIT)
            await select.select_option(label="high (-10)")
            toasts = page.locator("#toasts")
            await expect(toasts).to_contain_text("Priority failed", timeout=WAIT)
            await expect(toasts).to_contain_text("jobs.set_priority is denied")
            await expect(select).to_have_value("0")
            await expect(select).to_be_enabled()
            assert (await admin.get_job(job.id))["priority"] == 0
    finally:
        await server.stop()


async def test_a_running_or_completed_job_shows_its_priority_as_text(
    page: Page, live_server
) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        job = await admin.job("mail").priority("high").save()
        await sign_in(page, live_server, live_server.admin_token)
        await open_job(page, job.id)
        facts = page.locator("#detail-facts")
        await expect(page.locator(SELECT)).to_be_visible(timeout=WAIT)

        [doc] = await admin.call("jobs.claim", {"types": ["mail"], "limit": 1})
        await expect(page.locator("#detail-status")).to_have_text("running", timeout=WAIT)
        await expect(page.locator(SELECT)).to_have_count(0)
        await expect(facts).to_contain_text("high (-10)")

        await admin.call("jobs.done", {"id": doc["id"], "lease": doc["lease"]["token"]})
        await expect(page.locator("#detail-status")).to_have_text("completed", timeout=WAIT)
        await expect(page.locator(SELECT)).to_have_count(0)
        await expect(facts).to_contain_text("high (-10)")


async def test_a_worker_role_sees_the_priority_as_text(page: Page, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        job = await admin.job("mail").priority(-5).save()
    await sign_in(page, live_server, await live_server.token("worker", "wendy"))
    await open_job(page, job.id)
    await expect(page.locator("#detail-facts")).to_contain_text("medium (-5)", timeout=WAIT)
    await expect(page.locator(SELECT)).to_have_count(0)


async def test_a_creator_changes_its_own_ready_job(page: Page, live_server) -> None:
    token = await live_server.token("creator", "cleo")
    async with Client(live_server.ws_url, token=token) as creator:
        job = await creator.job("mail").save()
        await sign_in(page, live_server, token)
        await open_job(page, job.id)
        select = page.locator(SELECT)
        await expect(select).to_have_value("0", timeout=WAIT)
        await select.select_option(label="low (10)")
        await expect(select).to_have_value("10", timeout=WAIT)
        await expect(page.locator("#toasts")).to_contain_text("Priority: low (10)")
        assert (await creator.get_job(job.id))["priority"] == 10

        # A live update leaves the select in place: it keeps the focus (and an open list).
        await select.focus()
        await job.pause()
        await expect(page.locator("#detail-status")).to_have_text("paused", timeout=WAIT)
        await expect(select).to_be_focused()
        await expect(select).to_have_value("10")


@pytest.mark.parametrize("role", ["manager", "creator"])
async def test_the_bulk_bar_sets_the_priority_of_the_selected_queued_jobs(
    page: Page, live_server, role: str
) -> None:
    # Managers use the bulk form of the method; creators may not, and get one call per job.
    token = await live_server.token(role, f"{role}-b")
    async with Client(live_server.ws_url, token=token) as client:
        jobs = [await client.job("mail", {"n": n}).save() for n in range(3)]
        async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
            [running] = await admin.call("jobs.claim", {"types": ["mail"], "limit": 1})
        await sign_in(page, live_server, token)
        bulk = page.locator('#bulk-actions [data-action="set_priority"]')
        await row(page, running["id"]).locator("td.sel input").check()
        await expect(bulk).to_be_disabled()  # a running job's priority is fixed
        for job in jobs[1:]:
            await row(page, job.id).locator("td.sel input").check()
        await expect(page.locator("#bulk-count")).to_have_text("3 selected")
        await bulk.select_option(label="critical (-15)")
        await expect(page.locator("#toasts")).to_contain_text("Priority: 2 done", timeout=WAIT)
        await expect(row(page, jobs[2].id).locator("td.priority")).to_have_text("critical")
        await expect(bulk).to_have_value("")
        docs = await client.get_jobs([job.id for job in jobs])
    assert running["id"] == jobs[0].id
    assert [d["priority"] for d in docs] == [0, -15, -15]
