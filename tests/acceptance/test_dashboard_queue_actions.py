"""The Queues view's queue-wide things: Drain (a manager empties a queue after confirming;
running jobs finish, other queues are untouched, a role that may not drain has no button) and
the defaults a type gives its new jobs."""

from __future__ import annotations

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, sign_in

pytestmark = MARKS


async def test_a_manager_drains_a_queue_from_the_queues_view(page: Page, live_server) -> None:
    token = await live_server.token("manager", "drainer")
    async with Client(live_server.ws_url, token=token) as m:
        queued = [(await m.job("newsletter").save()).id for _ in range(3)]
        async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
            [running] = await admin.call("jobs.claim", {"types": ["newsletter"], "limit": 1})
        other = (await m.job("invoice").save()).id
        await sign_in(page, live_server, token)
        await page.click("#tab-queues")
        queue = page.locator('#queues-view tr[data-type="newsletter"]')
        await expect(queue.locator('[data-status="ready"]')).to_have_text("2", timeout=WAIT)
        asked: list[str] = []

        async def answer(dialog) -> None:
            asked.append(dialog.message)
            await (dialog.dismiss() if len(asked) == 1 else dialog.accept())

        page.on("dialog", answer)
        drain = queue.locator('[data-action="drain-type"]')
        await drain.click()  # dismissed: nothing happens
        await drain.click()
        await expect(queue.locator('[data-status="cancelled"]')).to_have_text("2", timeout=WAIT)
        await expect(drain).to_be_disabled(timeout=WAIT)  # nothing queued any more
        assert len(asked) == 2 and "newsletter" in asked[0]
        docs = {d["id"]: d["status"] for d in await m.get_jobs([*queued, other])}
    assert docs == {
        queued[0]: "running",
        queued[1]: "cancelled",
        queued[2]: "cancelled",
        other: "ready",
    }
    assert running["id"] == queued[0]


async def test_a_creator_sees_no_drain(page: Page, live_server) -> None:
    token = await live_server.token("creator", "maker")
    async with Client(live_server.ws_url, token=token) as c:
        await c.job("newsletter").save()
        await sign_in(page, live_server, token)
        await page.click("#tab-queues")
        queue = page.locator('#queues-view tr[data-type="newsletter"]')
        await expect(queue.locator('[data-status="ready"]')).to_have_text("1", timeout=WAIT)
        await expect(queue.locator('[data-action="drain-type"]')).to_have_count(0)


async def test_the_queues_view_shows_a_types_defaults_for_new_jobs(page: Page, live_server) -> None:
    token = await live_server.token("manager", "definer")
    async with Client(live_server.ws_url, token=token) as m:
        await m.job("report").save()
        await m.job("plain").save()
        await sign_in(page, live_server, token)
        await page.click("#tab-queues")
        report = page.locator('#queues-view tr[data-type="report"] td.defaults')
        await expect(report).to_have_text("—", timeout=WAIT)
        await m.set_type_time_limit("report", 300)  # pushed to the open page (types.watch)
        await expect(report).to_have_text("time limit 300 s", timeout=WAIT)
        await m.set_type_retry("report", {"retries": 2})
        await expect(report).to_have_text("time limit 300 s · 2 retries", timeout=WAIT)
        plain = page.locator('#queues-view tr[data-type="plain"] td.defaults')
        await expect(plain).to_have_text("—")
