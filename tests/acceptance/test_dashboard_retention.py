"""The Queues view's "Kept" column and its "Retention…" form: how long a type's
finished jobs are kept (`types.set_retain`) and how many of the newest of each status
(`types.set_keep`), shown live whoever sets them, set and cleared by a manager, also for a type
not listed yet; a role that may not set them has no button."""

from __future__ import annotations

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, queue_row, sign_in
from tests.acceptance.test_keep_count import finish

pytestmark = MARKS


async def test_the_queues_view_shows_how_finished_jobs_are_kept(page: Page, live_server) -> None:
    token = await live_server.token("manager", "keeper")
    async with Client(live_server.ws_url, token=token) as m:
        await m.job("report").save()
        await sign_in(page, live_server, token)
        await page.click("#tab-queues")
        kept = page.locator('#queues-view tr[data-type="report"] td.kept')
        await expect(kept).to_have_text("—", timeout=WAIT)
        await m.set_type_keep("report", completed=1000, failed=50)
        await expect(kept).to_have_text("newest 1,000 completed · newest 50 failed", timeout=WAIT)
        await m.set_type_retain("report", 3600)
        await expect(kept).to_contain_text("· for 3,600 s", timeout=WAIT)
        await m.set_type_keep("report")
        await expect(kept).to_have_text("for 3,600 s", timeout=WAIT)


async def test_a_manager_sets_and_clears_a_types_retention(page: Page, live_server) -> None:
    token = await live_server.token("manager", "retainer")
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        for _ in range(3):
            await finish(admin, "report")
    async with Client(live_server.ws_url, token=token) as m:
        queue = await queue_row(page, live_server, token, "report")
        await expect(queue.locator('[data-status="completed"]')).to_have_text("3", timeout=WAIT)

        await queue.locator('[data-action="edit-retention"]').click()
        form = page.locator("#retention-dialog form")
        await expect(page.locator("#retention-title")).to_have_text("Finished jobs for report")
        await expect(form.locator("[name=retain]")).to_have_value("")
        await form.locator("[name=keep_failed]").fill("-1")
        await form.locator("button[type=submit]").click()
        error = page.locator("#retention-error")
        await expect(error).to_have_text("Newest failed must be a whole number of at least 0.")
        await form.locator("[name=keep_failed]").fill("")
        await form.locator("[name=retain]").fill("3600")
        await form.locator("[name=keep_completed]").fill("1")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#retention-dialog")).to_be_hidden(timeout=WAIT)
        await expect(queue.locator("td.kept")).to_have_text(
            "newest 1 completed · for 3,600 s", timeout=WAIT
        )
        # the servers trim at once: the count follows live
        await expect(queue.locator('[data-status="completed"]')).to_have_text("1", timeout=WAIT)
        [rule] = await m.call("types.list")
        assert (rule["retain"], rule["keep"]) == (3600, {"completed": 1})

        # The form opens with what the type has; emptying the fields removes both rules.
        await queue.locator('[data-action="edit-retention"]').click()
        await expect(form.locator("[name=retain]")).to_have_value("3600")
        await expect(form.locator("[name=keep_completed]")).to_have_value("1")
        await form.locator("[name=retain]").fill("")
        await form.locator("[name=keep_completed]").fill("")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#retention-dialog")).to_be_hidden(timeout=WAIT)
        await expect(queue.locator("td.kept")).to_have_text("—", timeout=WAIT)
        assert await m.call("types.list") == []

        # A type with no job and no rules yet gets its retention from "another type…".
        await page.click("#queues-add-retention")
        await expect(form.locator("[name=type]")).to_have_value("")
        await form.locator("[name=type]").fill("  export  ")
        await form.locator("[name=keep_failed]").fill("20")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#retention-dialog")).to_be_hidden(timeout=WAIT)
        exported = page.locator('#queues-view tr[data-type="export"]')
        await expect(exported.locator("td.kept")).to_have_text("newest 20 failed", timeout=WAIT)
        [rule] = await m.call("types.list")
        assert (rule["type"], rule["keep"]) == ("export", {"failed": 20})


async def test_a_worker_has_no_retention_button(page: Page, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        await admin.job("report").save()
    worker = await live_server.token("worker", "wes", types=["report"])
    queue = await queue_row(page, live_server, worker, "report")
    await expect(queue.locator("td.kept")).to_have_text("—", timeout=WAIT)
    await expect(queue.locator('[data-action="edit-retention"]')).to_have_count(0)
    await expect(page.locator("#queues-add-retention")).to_be_hidden()
