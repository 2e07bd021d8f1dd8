"""Issue 24, where a user would look: a job's detail panel shows its group, its time limit and
what its dependencies returned; the queues view shows a type's limit per group."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, open_job, row, sign_in
from tests.helpers import wait_status

pytestmark = MARKS


async def test_the_detail_shows_group_time_limit_and_dependency_results(
    page: Page, live_server
) -> None:
    async def handler(job):
        return {"part": job.data["n"]}

    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        await admin.call("types.set_limits", {"type": "render", "group_concurrency": 1})
        parts = [admin.job("part", {"n": n}) for n in (1, 2)]
        then = admin.job("render", {}).group("tenant-7").time_limit(90)
        *part_ids, render_id = await admin.fan_in(parts, then)
        working = asyncio.create_task(admin.process_jobs("part", handler, worker_id="parts-1"))
        try:
            for part_id in part_ids:
                await wait_status(admin, part_id, "completed")
        finally:
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
    await sign_in(page, live_server, live_server.admin_token)
    await open_job(page, render_id)
    facts = page.locator("#detail-facts")
    await expect(facts).to_contain_text("tenant-7", timeout=WAIT)
    await expect(facts).to_contain_text("90s per attempt")
    results = page.locator("#detail-results")
    await expect(results).to_be_visible()
    for part_id in part_ids:
        await expect(results).to_contain_text(part_id)
    await expect(results).to_contain_text("part")

    await page.get_by_role("tab", name="Queues").click()
    await expect(page.locator("td.concurrency").filter(has_text="per group")).to_contain_text(
        "≤ 1 per group", timeout=WAIT
    )


async def test_the_detail_says_how_long_and_how_many_of_its_kind_a_job_is_kept(
    page: Page, live_server
) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        kept = await admin.job("digest", {}).retain(7200).keep(completed=10, failed=3).save()
        plain = await admin.job("digest", {}).save()
        await kept.cancel()
        finished = (await admin.get_job(kept.id))["finished"]
    await sign_in(page, live_server, live_server.admin_token)
    await open_job(page, kept.id)
    facts = page.locator("#detail-facts")
    await expect(facts).to_contain_text(
        "newest 10 completed · newest 3 failed · for 7,200 s", timeout=WAIT
    )
    removed_at = await page.evaluate(
        "t => new Date(t * 1000).toLocaleString()", finished + 7200
    )  # the panel's absolute times are the browser's locale
    await expect(facts).to_contain_text("Removed after")
    await expect(facts).to_contain_text(removed_at)
    await open_job(page, plain.id)  # unfinished, without rules of its own
    await expect(facts).not_to_contain_text("Kept")
    await expect(facts).not_to_contain_text("Removed after")


async def test_remove_asks_once_then_acts_from_the_detail_panel(page: Page, live_server) -> None:
    """A destructive action takes a second click (``ConfirmGate``): the first only asks."""
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        job = await admin.job("tidy", {}).save()
        await job.cancel()  # only a finished job may be removed
        await sign_in(page, live_server, live_server.admin_token)
        await open_job(page, job.id)
        remove = page.locator('#detail-actions [data-action="remove"]')
        await remove.click()
        await expect(remove).to_have_text("Confirm remove?")
        assert (await admin.get_job(job.id))["id"] == job.id  # still there after one click
        await remove.click()
        await expect(row(page, job.id)).to_have_count(0, timeout=WAIT)  # removed: pushed
        assert await admin.find({"id": job.id}) == []
