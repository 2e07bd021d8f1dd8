"""Issue 26: connection states. A server shutting down gracefully shows as "Draining", also to
a page that connects during the drain (refused with 1013). While the server is away the retries
back off (up to 10 s apart); once it answers again (its /readyz) the page reconnects within
about a second instead of waiting out the back-off."""

from __future__ import annotations

import asyncio
import re
import signal
import time

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, row, sign_in
from tests.acceptance.test_cli import worker_process
from tests.helpers import wait_status

pytestmark = MARKS


async def test_the_page_reconnects_within_a_second_of_the_server_coming_back(
    page: Page, live_server
) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        before = await admin.job("ping", {"n": 1}).delay(3600).save()
    await sign_in(page, live_server, live_server.admin_token)
    await expect(row(page, before.id)).to_be_visible(timeout=WAIT)

    # Each new attempt notes when it started and when the back-off had it due.
    await page.evaluate(
        """() => {
          const badge = document.querySelector('#conn');
          window.attempts = [];
          let due = null;
          new MutationObserver(() => {
            if (badge.dataset.state === 'offline') due = Number(badge.dataset.retryAt);
            if (badge.dataset.state === 'connecting') window.attempts.push([Date.now(), due]);
          }).observe(badge, {attributes: true, attributeFilter: ['data-state', 'data-retry-at']});
        }"""
    )
    await live_server.stop()
    # Stay away until the back-off has grown: the next attempt is at least 2 s off.
    await expect(page.locator("#conn-text")).to_have_text(
        re.compile(r"Offline · retry in ([3-9]|\d\d)s"), timeout=15_000
    )

    await live_server.start()  # same port, same database
    back = time.monotonic()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    took = time.monotonic() - back
    assert took < 1.5, f"reconnected {took:.2f} s after the server came back"
    started, due = (await page.evaluate("window.attempts"))[-1]
    assert started < due - 200, "the last attempt waited for its back-off instead of starting early"
    await expect(page.locator("#conn")).to_have_attribute("data-sessions", "2")

    # and the page is live again: a new job shows
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        after = await admin.job("ping", {"n": 2}).save()
    await expect(row(page, after.id)).to_be_visible(timeout=WAIT)


async def test_a_page_opened_during_a_drain_says_draining_then_comes_back(
    pages, live_server, tmp_path
) -> None:
    watcher = await pages.open()  # signed in before the drain: told by the server's push
    await sign_in(watcher, live_server, live_server.admin_token)
    async with (
        worker_process(live_server, tmp_path, "cli_handlers:until_handed_back", "--type", "block"),
        Client(live_server.ws_url, token=live_server.admin_token, reconnect=False) as admin,
    ):
        job = await admin.job("block").save()
        await wait_status(admin, job.id, "running")
        live_server.proc.send_signal(signal.SIGTERM)  # drains: the held job keeps it open
        await expect(watcher.locator("#conn-text")).to_have_text("Draining", timeout=WAIT)

        page = await pages.open()
        await page.goto(live_server.http_url + "/")
        await page.fill("#signin-token", live_server.admin_token)
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#conn")).to_have_attribute(
            "data-state", "draining", timeout=WAIT
        )
        await expect(page.locator("#conn-text")).to_contain_text("Draining")
        await expect(page.locator("#toasts")).to_be_empty()  # no alarm: it is a planned stop

        live_server.proc.send_signal(signal.SIGTERM)  # a second one ends the drain now
        await asyncio.to_thread(live_server.proc.wait, 10)
        live_server.proc = None
    await live_server.start()  # same port, same database
    back = time.monotonic()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    assert time.monotonic() - back < 1.5
    await expect(row(page, job.id)).to_be_visible(timeout=WAIT)
