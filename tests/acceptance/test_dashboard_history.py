"""Issue 26: the dashboard's chart starts from the server's history (``stats.history``), so a
reload shows the completions of the past minutes instead of an empty chart."""

from __future__ import annotations

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, sign_in
from tests.helpers import running_worker

pytestmark = MARKS


async def test_the_chart_keeps_its_past_points_across_a_reload(page: Page, live_server) -> None:
    async def handler(job):
        return job.data

    async with (
        Client(live_server.ws_url, token=live_server.admin_token) as admin,
        Client(live_server.ws_url, token=live_server.admin_token) as worker,
        running_worker(worker, "mail", handler),
    ):
        for n in range(3):
            assert await admin.run("mail", n, timeout=10) == n

    chart = page.locator("#throughput")
    await sign_in(page, live_server, live_server.admin_token)
    # the jobs completed before this page existed: only the server's history knows them
    await expect(chart).to_have_attribute("data-history", "loaded", timeout=WAIT)
    await expect(chart).to_have_attribute("data-total", "3")
    await expect(page.locator("#throughput-rate")).not_to_have_text("0/s")

    await page.reload()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    await expect(chart).to_have_attribute("data-history", "loaded", timeout=WAIT)
    await expect(chart).to_have_attribute("data-total", "3")
