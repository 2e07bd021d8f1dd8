"""Issue 24, item 5: the dashboard's Schedules view lists the repeating jobs by key, with the
rule and the next run, follows a schedule replaced by a save under the same key, and opens the
job."""

from __future__ import annotations

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, sign_in

pytestmark = MARKS


async def test_the_schedules_view_lists_repeating_jobs_and_follows_an_upsert(
    page: Page, live_server
) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as client:
        job = await client.job("report").key("nightly").repeat(every=60).delay(60).save()
        await client.job("once").save()
        await sign_in(page, live_server, live_server.admin_token)
        await page.click("#tab-schedules")
        line = page.locator('#schedules-view tr[data-key="nightly"]')
        await expect(line).to_be_visible(timeout=WAIT)
        await expect(line.locator("td.repeat")).to_have_text("every 60 s")
        await expect(page.locator("#schedules-view tbody tr")).to_have_count(1)
        await client.job("report").key("nightly").repeat(every=3600).delay(3600).save()
        await expect(line.locator("td.repeat")).to_have_text("every 3600 s", timeout=WAIT)
        await expect(line.locator("td.time")).to_have_text("in 59m")  # floored
    await line.locator(f'[data-id="{job.id}"]').click()
    await expect(page.locator("#detail-id")).to_have_text(job.id, timeout=WAIT)
