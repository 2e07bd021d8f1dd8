"""Issue 24, item 7, where a user looks: the workers view says which worker is paused."""

from __future__ import annotations

import asyncio
import contextlib

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, sign_in

pytestmark = MARKS


async def test_the_workers_view_marks_a_paused_worker(page: Page, live_server) -> None:
    await sign_in(page, live_server, live_server.admin_token)

    async def handler(job):
        return None

    async with Client(live_server.ws_url, token=live_server.admin_token) as client:
        worker = client.worker("thumbs", handler, worker_id="resting")
        working = asyncio.create_task(worker.run())
        try:
            await client.run("thumbs", timeout=10)  # the worker is registered and working
            await worker.pause()
            await page.click("#tab-workers")
            line = page.locator('#workers-view tr[data-worker="admin/resting"]')
            await expect(line.locator(".tag.paused")).to_have_text("paused", timeout=WAIT)
            await worker.resume()
            await page.click("#tab-jobs")
            await page.click("#tab-workers")
            await expect(line.locator(".tag.paused")).to_have_count(0, timeout=WAIT)
        finally:
            working.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await working
