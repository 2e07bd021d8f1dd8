"""Issue 26: phone, keyboard and screen readers. The dashboard fits 390 px with nothing off
screen, follows the system's dark mode, sorts and opens jobs from the keyboard, keeps focus on
the same job while rows move, and axe-core (shipped in the axe-playwright-python wheel) finds
no serious or critical violation in any view, light or dark."""

from __future__ import annotations

import asyncio
from pathlib import Path

import axe_playwright_python
from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, PHONE, WAIT, open_job, row, sign_in
from tests.acceptance.test_dashboard_failures import parse_amount
from tests.helpers import wait_status

pytestmark = MARKS

AXE_JS = Path(axe_playwright_python.__file__).with_name("axe.min.js")

# Every visible element whose box leaves the viewport and that no scrolling box of the page
# (other than the page itself) holds: what a person at this width cannot reach.
OFF_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (node) => {
    for (let p = node.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.overflowX !== "visible") {
        const box = p.getBoundingClientRect();
        return box.left >= -1 && box.right <= width + 1;
      }
    }
    return false;
  };
  const out = [];
  for (const node of document.body.querySelectorAll("*")) {
    const box = node.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(node).visibility === "hidden") continue;
    if ((box.right > width + 1 || box.left < -1) && !clipped(node)) {
      out.push(`${node.tagName}#${node.id}.${node.className} ${box.left}-${box.right}`);
    }
  }
  return out;
}"""


async def assert_fits(page: Page, where: str) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{where}: the page is {width} px wide"
    assert await page.evaluate(OFF_SCREEN) == [], where
    # the jobs table keeps to its box: no sideways scrolling inside it either
    wrap = await page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].filter(w => w.offsetParent)"
        ".map(w => w.scrollWidth - w.clientWidth)"
    )
    assert all(extra <= 1 for extra in wrap), f"{where}: a table is wider than its box {wrap}"


async def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE_JS))
    found = await page.evaluate(
        """async () => {
          // the element, and for a contrast finding its colours and ratio
          const where = (n) => {
            const d = n.any[0] && n.any[0].data;
            const colours = d && d.contrastRatio && `${d.fgColor}/${d.bgColor} ${d.contrastRatio}`;
            return n.target.join(" ") + (colours ? ` (${colours})` : "");
          };
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id}: ${v.nodes.slice(0, 4).map(where).join(", ")}`);
        }"""
    )
    return list(found)


async def seed(live_server) -> tuple[str, str]:
    """A failed-and-waiting job with a traceback and a few others; returns (failed, waiting)."""

    async def handler(job):
        return parse_amount(job.data["amount"])

    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        failing = await admin.job("charge", {"amount": "12x" * 40}).retry(2, wait=3600).save()
        waiting = await admin.job("a-rather-long-job-type-name", {"n": 1}).delay(600).save()
        await admin.job("mail", {"to": "someone@example.com"}).save()
        working = asyncio.create_task(admin.process_jobs("charge", handler))
        try:
            await wait_status(admin, failing.id, "waiting")
        finally:
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
    return failing.id, waiting.id


async def walk_views(page: Page, failed: str, check) -> None:
    """Every view the dashboard has, with `check(where)` on each."""
    await check("jobs")
    await open_job(page, failed)
    await expect(page.locator("#detail-failures pre.traceback")).to_be_visible()
    await check("detail")
    await page.click("#detail-close")
    await page.click("#new-job")
    await expect(page.locator("#create-dialog")).to_be_visible()
    await check("create dialog")
    await page.click("#create-cancel")
    for view in ("queues", "workers"):
        await page.click(f"#tab-{view}")
        await expect(page.locator(f"#{view}-view")).to_be_visible()
        await check(view)
    await page.click("#tab-jobs")


async def test_a_phone_reaches_every_view_without_sideways_scrolling(pages, live_server) -> None:
    failed, _ = await seed(live_server)
    page = await pages.open(PHONE, is_mobile=True, has_touch=True)
    await page.goto(live_server.http_url + "/")
    await assert_fits(page, "sign-in")
    await sign_in(page, live_server, live_server.admin_token)
    await expect(row(page, failed)).to_be_visible(timeout=WAIT)
    await walk_views(page, failed, lambda where: assert_fits(page, where))


async def test_axe_finds_no_serious_violation_light_or_dark(pages, live_server) -> None:
    failed, _ = await seed(live_server)
    found: list[str] = []
    for scheme in ("light", "dark"):
        # axe is a script the test adds, which the page's Content-Security-Policy would refuse
        page = await pages.open(color_scheme=scheme, bypass_csp=True)

        async def check(where: str, page: Page = page, scheme: str = scheme) -> None:
            found.extend(f"{where}, {scheme}: {v}" for v in await axe_violations(page))

        await page.goto(live_server.http_url + "/")
        await check("sign-in")
        await sign_in(page, live_server, live_server.admin_token)
        await expect(row(page, failed)).to_be_visible(timeout=WAIT)
        await walk_views(page, failed, check)
    assert found == []


async def test_dark_mode_follows_the_system(pages, live_server) -> None:
    backgrounds = {}
    for scheme in ("light", "dark"):
        page = await pages.open(color_scheme=scheme)
        await page.goto(live_server.http_url + "/")
        backgrounds[scheme] = await page.evaluate(
            "getComputedStyle(document.querySelector('.card')).backgroundColor"
        )
    assert backgrounds["light"] == "rgb(255, 255, 255)"
    red, green, blue = (int(x) for x in backgrounds["dark"][4:-1].split(","))
    assert red + green + blue < 150, backgrounds


async def test_sorting_opening_and_selecting_from_the_keyboard(page: Page, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        ids = await admin.create_many(
            {"type": f"t{n}", "data": {}, "delay": 3600} for n in range(3)
        )
        await sign_in(page, live_server, live_server.admin_token)
        await expect(page.locator("#jobs tbody tr")).to_have_count(3, timeout=WAIT)

        await page.locator('th[data-sort="id"] button').focus()
        await page.keyboard.press("Enter")
        await expect(page.locator('th[data-sort="id"]')).to_have_attribute("aria-sort", "ascending")
        await page.keyboard.press("Space")
        await expect(page.locator('th[data-sort="id"]')).to_have_attribute(
            "aria-sort", "descending"
        )
        first = page.locator("#jobs tbody tr").first
        await expect(first).to_have_attribute("data-id", max(ids))
        await first.focus()
        await page.keyboard.press("ArrowDown")
        second = sorted(ids)[1]
        assert await page.evaluate("document.activeElement.dataset.id") == second
        await page.keyboard.press("Space")
        await expect(page.locator("#bulk-count")).to_have_text("1 selected")
        await page.keyboard.press("Enter")
        await expect(page.locator("#detail-id")).to_have_text(second)
        # The job's actions are buttons in the panel, reachable by Tab.
        cancel = page.locator('#detail-actions [data-action="cancel"]')
        await cancel.focus()
        await page.keyboard.press("Enter")
        await expect(row(page, second).locator(".badge")).to_have_text("cancelled", timeout=WAIT)
        assert (await admin.get_job(second))["status"] == "cancelled"


async def test_focus_stays_on_the_same_job_when_rows_move(page: Page, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        ids = await admin.create_many(
            {"type": "feed", "data": {"n": n}, "delay": 3600} for n in range(3)
        )
        await sign_in(page, live_server, live_server.admin_token)
        await expect(page.locator("#jobs tbody tr")).to_have_count(3, timeout=WAIT)
        shown = await page.locator("#jobs tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.id)"
        )
        assert sorted(shown) == sorted(ids)
        focused = shown[1]
        await row(page, focused).focus()
        # Two newer jobs push the focused one two rows down (the table sorts newest first).
        for n in range(2):
            await admin.job("feed", {"n": 10 + n}).delay(3600).save()
        await expect(page.locator("#jobs tbody tr")).to_have_count(5, timeout=WAIT)
        await expect(page.locator("#jobs tbody tr").nth(3)).to_have_attribute("data-id", focused)
        assert await page.evaluate("document.activeElement.dataset.id") == focused
