"""Issue 26: connection states. While the server is away the dashboard's retries back off (up
to 10 s apart); once the server answers again (its /readyz), the page reconnects within about
a second instead of waiting out the back-off."""

from __future__ import annotations

import re
import time

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, row, sign_in

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
