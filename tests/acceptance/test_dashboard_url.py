"""Issue 26: addressable views. Filters, sort, page, view and the open job live in the URL;
back and forward walk through them; a link opened by a colleague shows the same view once
they sign in."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, open_job, row, sign_in

pytestmark = MARKS


def hash_of(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).fragment).items()}


async def test_back_and_forward_walk_through_filters_sort_and_the_open_job(
    page: Page, live_server
) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        ids = await admin.create_many(
            {"type": ["mail", "sync"][n % 2], "data": {"n": n}, "delay": 3600} for n in range(6)
        )
        await admin.job("mail", {"n": 99}).save()  # ready
    await sign_in(page, live_server, live_server.admin_token)
    await expect(page.locator("#jobs tbody tr")).to_have_count(7, timeout=WAIT)

    await page.select_option("#filter-status", "waiting")
    await expect(page.locator("#jobs tbody tr")).to_have_count(6)
    await page.click('th[data-sort="id"] button')
    # every row in id order before a click: rows are reused, and one clicked while the table
    # redraws may already show another job
    for k, job_id in enumerate(sorted(ids)):
        await expect(page.locator("#jobs tbody tr").nth(k)).to_have_attribute("data-id", job_id)
    await open_job(page, ids[3])
    assert hash_of(page) == {"status": "waiting", "sort": "id", "job": ids[3]}

    await page.go_back()
    await expect(page.locator("#detail")).to_be_hidden()
    await expect(page.locator('th[data-sort="id"]')).to_have_attribute("aria-sort", "ascending")
    await page.go_back()
    await expect(page.locator('th[data-sort="created"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    await expect(page.locator("#filter-status")).to_have_value("waiting")
    await page.go_back()
    await expect(page.locator("#filter-status")).to_have_value("")
    await expect(page.locator("#jobs tbody tr")).to_have_count(7)

    await page.go_forward()
    await page.go_forward()
    await page.go_forward()
    await expect(page.locator("#detail-id")).to_have_text(ids[3])
    await expect(page.locator("#filter-status")).to_have_value("waiting")
    await expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", min(ids))

    # The views are in the history too.
    await page.click("#tab-queues")
    assert hash_of(page)["view"] == "queues"
    await page.go_back()
    await expect(page.locator("#jobs-view")).to_be_visible()
    await expect(page.locator("#queues-view")).to_be_hidden()


async def test_a_link_opens_the_same_view_after_sign_in(pages, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        ids = await admin.create_many(
            {"type": "report", "data": {"n": n}, "delay": 3600} for n in range(120)
        )
    target = sorted(ids)[105]  # on page 3 of 50 rows each, sorted by id
    link = f"/#type=report&status=waiting&sort=id&page=3&job={target}"

    colleague = await pages.open()  # a fresh browser profile: no token stored
    await colleague.goto(live_server.http_url + link)
    await expect(colleague.locator("#signin-token")).to_be_visible()
    await colleague.fill("#signin-token", live_server.admin_token)
    await colleague.click("#signin-form button[type=submit]")

    await expect(colleague.locator("#pager-page")).to_have_text("Page 3 / 3", timeout=WAIT)
    await expect(colleague.locator("#filter-type")).to_have_value("report")
    await expect(colleague.locator("#filter-status")).to_have_value("waiting")
    await expect(colleague.locator('th[data-sort="id"]')).to_have_attribute(
        "aria-sort", "ascending"
    )
    await expect(colleague.locator("#detail-id")).to_have_text(target)
    await expect(row(colleague, target)).to_have_class(re.compile(r"\bactive\b"))
    await expect(colleague.locator("#jobs tbody tr").first).to_have_attribute(
        "data-id", sorted(ids)[100]
    )

    # Signing out leaves the link alone: signing in again still lands on it.
    await colleague.click("#signout")
    await expect(colleague.locator("#signin-token")).to_be_visible()
    assert target in colleague.url and "page=3" in colleague.url
    await sign_in(colleague, live_server, live_server.admin_token, path=link)
    await expect(colleague.locator("#detail-id")).to_have_text(target, timeout=WAIT)
