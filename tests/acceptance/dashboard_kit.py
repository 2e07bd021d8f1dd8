"""What the dashboard's browser tests share besides their fixtures (tests/acceptance/conftest.py):
how to find Chromium, the marks, sign-in, and locators for rows and the detail panel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
WAIT = 10_000  # ms: the longest any single UI expectation may take
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CLICKS = 3  # tries of a row's click (open_job)

# The browser lives for the module (one Chromium launch); the tests share its event loop.
# ``live_server`` drives a separate process with loop-independent calls, so it can serve them.
MARKS = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    # CI installs Chromium (make browser): there a missing browser must fail, not skip.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium (make browser)",
    ),
]


async def sign_in(page: Page, server, token: str, path: str = "/") -> None:
    await page.goto(server.http_url + path)
    await page.fill("#signin-token", token)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)


async def queue_row(page: Page, server, token: str, job_type: str) -> Locator:
    """Signed in with ``token``, the Queues view's row of ``job_type``."""
    await sign_in(page, server, token)
    await page.click("#tab-queues")
    return page.locator(f'#queues-view tr[data-type="{job_type}"]')


def row(page: Page, job_id: str):
    return page.locator(f'#jobs tbody tr[data-id="{job_id}"]')


async def open_job(page: Page, job_id: str) -> None:
    """Click the job's row until its detail opens: rows are reused, so a row found by id in
    a live table that is redrawing can show another job by the time the click lands (a
    person would click again too). What opens is always checked."""
    detail = page.locator("#detail-id")
    for _ in range(CLICKS - 1):
        await row(page, job_id).locator("td.type").click()
        try:
            await expect(detail).to_have_text(job_id, timeout=WAIT // CLICKS)
            return
        except AssertionError:
            continue  # another job's detail opened: the row was redrawn under the click
    await row(page, job_id).locator("td.type").click()
    await expect(detail).to_have_text(job_id, timeout=WAIT)
