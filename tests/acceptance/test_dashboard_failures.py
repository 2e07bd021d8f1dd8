"""Issue 26: a failure a person can read. A handler raises from a nested call; the job waits
for its retry. The detail panel shows the error's type and message apart, the traceback as
preformatted lines (not a JSON string with "\\n"), and when the next attempt is, and which."""

from __future__ import annotations

import asyncio
from datetime import datetime

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, open_job, row, sign_in
from tests.helpers import wait_for_doc

pytestmark = MARKS


def parse_amount(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"not an amount: {text!r}")
    return int(text)


async def test_a_failure_waiting_for_its_retry_reads_as_a_traceback(
    page: Page, live_server
) -> None:
    async def handler(job):
        return parse_amount(job.data["amount"])

    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        job = await admin.job("charge", {"amount": "12x"}).retry(4, wait=3600).save()
        working = asyncio.create_task(admin.process_jobs("charge", handler, worker_id="pay-1"))
        try:
            stored = await wait_for_doc(
                admin, job.id, lambda d: d["status"] == "waiting" and d["attempts"] == 1
            )
        finally:
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
    await sign_in(page, live_server, live_server.admin_token)
    await expect(row(page, job.id).locator(".badge")).to_have_text("waiting", timeout=WAIT)
    await open_job(page, job.id)

    failures = page.locator("#detail-failures")
    await expect(failures.locator(".error-type")).to_have_text("ValueError")
    await expect(failures.locator(".error-message")).to_have_text("not an amount: '12x'")
    trace = failures.locator("pre.traceback")
    text = await trace.inner_text()
    assert text.startswith("Traceback (most recent call last):"), text
    assert "in parse_amount" in text and "\\n" not in text
    # Python's lines and indentation kept: one line per frame line, not a wrapped string.
    assert len(text.splitlines()) >= 5
    assert await trace.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"

    at = datetime.fromtimestamp(stored["after"]).strftime("%H:%M:%S")
    retry = f"retry at {at} (attempt 2 of 5)"
    await expect(failures.locator(".retry")).to_have_text(retry)
    await expect(page.locator("#detail-facts")).to_contain_text(retry)
