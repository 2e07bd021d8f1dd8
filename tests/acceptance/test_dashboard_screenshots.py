"""Issue 26: a picture of every view, on a desktop and a phone, light and dark. `make
screenshots` writes them into docs/screenshots/ (LIVEJOBS_SCREENSHOTS names the folder); in the
test suite they go to test-artifacts/screenshots/, and the test checks each was drawn."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import (
    ARTIFACTS,
    DESKTOP,
    MARKS,
    PHONE,
    WAIT,
    open_job,
    row,
    sign_in,
)
from tests.acceptance.test_dashboard_failures import parse_amount
from tests.helpers import wait_status

pytestmark = MARKS

OUT = Path(os.environ.get("LIVEJOBS_SCREENSHOTS") or ARTIFACTS / "screenshots")


async def handler(job, held: asyncio.Event):
    if job.type in ("charge", "report"):
        return parse_amount(job.data["amount"])
    await job.log(f"fetching {job.data.get('image', 'input')}")
    if job.type == "resize":
        await job.progress(2, 5)
        await job.log("waiting for the upstream API", level="warning", data={"retry_after": 2})
        await held.wait()
    return {"ok": True}


async def seed(c: Client) -> dict[str, str]:
    """Jobs in every status: a failure waiting for its retry, one that failed for good, a job
    held by the worker and one waiting for it, a paused and a cancelled one."""
    jobs = {}
    for n in range(5):
        jobs[f"mail{n}"] = (await c.job("email", {"to": f"user{n}@example.com"}).save()).id
    jobs["charge"] = (
        await c.job("charge", {"amount": "12x"}).retry(4, wait=3600).priority("high").save()
    ).id
    jobs["report"] = (await c.job("report", {"amount": "q3"}).save()).id
    jobs["resize"] = (await c.job("resize", {"image": "hero.jpg"}).save()).id
    jobs["publish"] = (
        await c.job("publish", {"image": "hero.jpg"}).depends(jobs["resize"]).save()
    ).id
    paused = await c.job("webhook", {"url": "https://hooks.example.com/b"}).delay(900).save()
    await paused.pause()
    jobs["later"] = (
        await c.job("webhook", {"url": "https://hooks.example.com/a"}).delay(900).save()
    ).id
    cancelled = await c.job("sync-crm", {"account": 42}).delay(900).save()
    await cancelled.cancel()
    return jobs


async def shoot(page: Page, name: str) -> None:
    path = OUT / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled")
    assert path.stat().st_size > 5_000, path


async def views(page: Page, jobs: dict[str, str], prefix: str) -> None:
    """Every view of the dashboard, as `prefix-<view>.png`."""
    await shoot(page, f"{prefix}-jobs")
    await open_job(page, jobs["charge"])
    await expect(page.locator("#detail-failures .retry")).to_be_visible()
    await page.locator("#detail-failures").scroll_into_view_if_needed()
    await shoot(page, f"{prefix}-failure")
    await page.click("#detail-close")  # a phone shows the panel instead of the table
    await open_job(page, jobs["resize"])
    await expect(page.locator("#detail-log")).to_contain_text("upstream API")
    await shoot(page, f"{prefix}-running")
    await page.click("#detail-close")
    await page.click("#tab-queues")
    await expect(page.locator('#queues-view tr[data-type="email"]')).to_be_visible()
    await shoot(page, f"{prefix}-queues")
    await page.click("#tab-workers")
    await expect(page.locator("#workers-view tr[data-worker]")).to_have_count(1, timeout=WAIT)
    await shoot(page, f"{prefix}-workers")
    await page.click("#tab-jobs")
    await page.click("#new-job")
    await shoot(page, f"{prefix}-new-job")
    await page.click("#create-cancel")


async def test_screenshots_of_every_view(pages, live_server) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    held = asyncio.Event()
    creator = await live_server.token("creator", "carol")
    async with (
        Client(live_server.ws_url, token=creator) as c,
        Client(live_server.ws_url, token=live_server.admin_token) as w,
    ):
        jobs = await seed(c)
        working = asyncio.create_task(
            w.process_jobs(
                ["email", "charge", "report", "resize"],
                lambda job: handler(job, held),
                concurrency=3,
                worker_id="worker-eu-1",
            )
        )
        try:
            await wait_status(c, jobs["charge"], "waiting")
            await wait_status(c, jobs["report"], "failed")
            await wait_status(c, jobs["resize"], "running")
            for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                for scheme in ("light", "dark"):
                    page = await pages.open(viewport, color_scheme=scheme)
                    prefix = f"{size}-{scheme}"
                    await page.goto(live_server.http_url + "/")
                    await shoot(page, f"{prefix}-sign-in")
                    await sign_in(page, live_server, live_server.admin_token)
                    await expect(row(page, jobs["mail4"]).locator(".badge")).to_have_text(
                        "completed", timeout=WAIT
                    )
                    await views(page, jobs, prefix)
        finally:
            held.set()
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
