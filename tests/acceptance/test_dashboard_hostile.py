"""A job's strings are written by any client: the dashboard must show them as text in every view
(table, chips, detail panel, log, failures, queues and their dialogs, workers, schedules, the
URL's search), never run them as HTML or script."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from playwright.async_api import Page, expect

from livejobs_sdk import Client, Fatal
from tests.acceptance.dashboard_kit import MARKS, WAIT, open_job, sign_in
from tests.helpers import running_worker, wait_for_doc, wait_status

pytestmark = MARKS

#: each sets window.__pwned if it ever runs
HOSTILE = (
    '<img src=x onerror="window.__pwned=1">"><script>window.__pwned=2</script>'
    "<svg onload=window.__pwned=3>javascript:window.__pwned=4 </style><style>*{display:none}"
)
#: elements the markup above would make if it were parsed as HTML
INJECTED = "img[src='x'], script:not([src]), svg[onload], [onerror], body style"


async def assert_shown_as_text(page: Page, where: str) -> None:
    shown = page.locator(where).get_by_text('<img src=x onerror="window.__pwned=1">').first
    await expect(shown).to_be_attached(timeout=WAIT)
    assert await page.evaluate("window.__pwned") is None, where
    assert await page.locator(INJECTED).count() == 0, where


async def test_hostile_strings_are_text_in_every_view(page: Page, live_server) -> None:
    hold = asyncio.Event()

    async def handler(job):
        await job.log(HOSTILE, data={HOSTILE: HOSTILE})
        await job.progress(1, 3)
        if job.data["then"] == "fail":
            raise Fatal(HOSTILE)
        if job.data["then"] == "hold":
            await hold.wait()
        return {HOSTILE: HOSTILE}

    async with (
        Client(live_server.ws_url, token=live_server.admin_token) as admin,
        Client(live_server.ws_url, token=live_server.admin_token) as worker,
    ):
        await admin.call("types.set_limits", {"type": HOSTILE, "concurrency": 5})
        await (
            admin.job(HOSTILE, {"x": HOSTILE}).key(f"k{HOSTILE}").repeat(every=60).delay(60).save()
        )
        async with running_worker(worker, HOSTILE, handler, worker_id=f"admin/{HOSTILE}"):
            failed = await admin.job(HOSTILE, {"then": "fail", "x": HOSTILE}).group(HOSTILE).save()
            done = await admin.job(HOSTILE, {"then": "done"}).save()
            held = await admin.job(HOSTILE, {"then": "hold"}).key(HOSTILE).save()
            await wait_status(admin, failed.id, "failed")
            await wait_status(admin, done.id, "completed")
            await wait_for_doc(admin, held.id, lambda d: d["status"] == "running")

            await page.add_init_script("window.__pwned = undefined")
            await sign_in(page, live_server, live_server.admin_token)
            await assert_shown_as_text(page, "#jobs")
            await open_job(page, failed.id)
            await assert_shown_as_text(page, "#detail-failures")  # message and traceback
            for job_id in (failed.id, done.id, held.id):  # data, result, log, key, group
                await open_job(page, job_id)
                await assert_shown_as_text(page, "#detail-body")
            await page.click("#tab-workers")
            await assert_shown_as_text(page, "#workers-view")
            await page.click("#tab-queues")
            await assert_shown_as_text(page, "#queues-view")
            await page.locator('#queues-view [data-action="edit-limits"]').first.click()
            await expect(page.locator("#limits-title")).to_contain_text(HOSTILE, timeout=WAIT)
            await page.keyboard.press("Escape")
            await page.click("#tab-schedules")
            await assert_shown_as_text(page, "#schedules-view")
            # a link someone was sent: the search and the type filter come from the URL
            await page.goto(
                f"{live_server.http_url}/#type={quote(HOSTILE)}&q={quote(HOSTILE)}&job={held.id}"
            )
            await expect(page.locator("#detail-id")).to_have_text(held.id, timeout=WAIT)
            await assert_shown_as_text(page, "#detail-body")
            hold.set()
    assert await page.evaluate("window.__pwned") is None
