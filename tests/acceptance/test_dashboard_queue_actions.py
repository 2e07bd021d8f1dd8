"""The Queues view's queue-wide things: Drain (a manager empties a queue after confirming;
running jobs finish, other queues are untouched, a role that may not drain has no button) and
the defaults a type gives its new jobs (shown, and set through "Defaults…", or "Defaults for
another type…" for a type with no job and no rule yet)."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, WebSocket, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, queue_row, sign_in

pytestmark = MARKS


async def test_a_manager_drains_a_queue_from_the_queues_view(page: Page, live_server) -> None:
    token = await live_server.token("manager", "drainer")
    async with Client(live_server.ws_url, token=token) as m:
        queued = [(await m.job("newsletter").save()).id for _ in range(3)]
        async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
            [running] = await admin.call("jobs.claim", {"types": ["newsletter"], "limit": 1})
        other = (await m.job("invoice").save()).id
        queue = await queue_row(page, live_server, token, "newsletter")
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


async def test_the_drain_question_shows_a_types_name_as_written(page: Page, live_server) -> None:
    """A type's name is a client's text, quoted as JSON in the question, so that it reads as one
    name (control characters, newlines among them, are refused in names at the edge)."""
    named = 'mail" for everyone; nothing "'
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        await admin.job(named).save()
    await sign_in(page, live_server, live_server.admin_token)
    await page.click("#tab-queues")
    asked: list[str] = []
    answered = asyncio.Event()

    async def answer(dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()
        answered.set()

    page.on("dialog", answer)
    await page.locator('#queues-view [data-action="drain-type"]').first.click()
    await asyncio.wait_for(answered.wait(), WAIT / 1000)
    assert 'of type "mail\\" for everyone; nothing \\""?' in asked[0], asked


async def test_a_creator_sees_no_drain(page: Page, live_server) -> None:
    token = await live_server.token("creator", "maker")
    async with Client(live_server.ws_url, token=token) as c:
        await c.job("newsletter").save()
        queue = await queue_row(page, live_server, token, "newsletter")
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


def setter_calls(page: Page) -> list[str]:
    """The `types.set_*` frames the page sends from now on (register before signing in)."""
    sent: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda frame: sent.append(frame) if "types.set_" in frame else None)

    page.on("websocket", watch)
    return sent


async def test_a_manager_sets_and_clears_a_types_defaults(page: Page, live_server) -> None:
    token = await live_server.token("manager", "defaulter")
    async with Client(live_server.ws_url, token=token) as m:
        await m.job("report").save()
        queue = await queue_row(page, live_server, token, "report")
        shown = queue.locator("td.defaults")
        await expect(shown).to_have_text("—", timeout=WAIT)

        await queue.locator('[data-action="edit-defaults"]').click()
        form = page.locator("#defaults-dialog form")
        await expect(page.locator("#defaults-title")).to_have_text("Defaults for report")
        await expect(form.locator("[name=time_limit]")).to_have_value("")
        await expect(form.locator("[name=retries]")).to_have_value("")
        await form.locator("[name=time_limit]").fill("300")
        await form.locator("[name=retries]").fill("2")
        await form.locator("[name=wait]").fill("5")
        await form.locator("[name=backoff]").select_option("exponential")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#defaults-dialog")).to_be_hidden(timeout=WAIT)
        await expect(shown).to_have_text("time limit 300 s · 2 retries", timeout=WAIT)
        [rule] = await m.call("types.list")
        assert (rule["type"], rule["time_limit"]) == ("report", 300)
        assert rule["retry"] == {"retries": 2, "wait": 5, "backoff": "exponential"}
        # A new job without its own gets them; one with its own keeps those.
        job = await m.get_job((await m.job("report").save()).id)
        assert job["time_limit"] == 300
        assert (job["retry"]["retries"], job["retry"]["backoff"]) == (2, "exponential")
        own = await m.get_job((await m.job("report").time_limit(10).save()).id)
        assert own["time_limit"] == 10

        # The form opens with what the type has; emptying the fields removes both defaults.
        await queue.locator('[data-action="edit-defaults"]').click()
        await expect(form.locator("[name=time_limit]")).to_have_value("300")
        await expect(form.locator("[name=retries]")).to_have_value("2")
        await expect(form.locator("[name=backoff]")).to_have_value("exponential")
        for name in ("time_limit", "retries", "wait"):
            await form.locator(f"[name={name}]").fill("")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#defaults-dialog")).to_be_hidden(timeout=WAIT)
        await expect(shown).to_have_text("—", timeout=WAIT)
        await expect(queue).to_be_visible()  # the type's jobs keep its row
        assert await m.call("types.list") == []
        job = await m.get_job((await m.job("report").save()).id)
        assert (job["time_limit"], job["retry"]["retries"]) == (None, 0)


async def test_a_bad_default_is_refused_in_the_form(page: Page, live_server) -> None:
    token = await live_server.token("manager", "checker")
    sent = setter_calls(page)
    async with Client(live_server.ws_url, token=token) as m:
        await m.job("report").save()
        await m.set_type_time_limit("report", 60)
        queue = await queue_row(page, live_server, token, "report")
        await expect(queue.locator("td.defaults")).to_have_text("time limit 60 s", timeout=WAIT)
        await queue.locator('[data-action="edit-defaults"]').click()
        form = page.locator("#defaults-dialog form")
        error = page.locator("#defaults-error")
        submit = form.locator("button[type=submit]")

        await form.locator("[name=time_limit]").fill("0")
        await submit.click()
        await expect(error).to_contain_text("time limit must be more than 0")
        await form.locator("[name=time_limit]").fill("3000000")  # over 31 days
        await submit.click()
        await expect(error).to_contain_text("at most 2,678,400 seconds")
        await form.locator("[name=time_limit]").fill("120")
        await form.locator("[name=retries]").fill("1.5")
        await submit.click()
        await expect(error).to_contain_text("Retries must be a whole number")
        await form.locator("[name=retries]").fill("")
        await form.locator("[name=wait]").fill("5")  # a wait without retries
        await submit.click()
        await expect(error).to_contain_text("Give a number of retries")
        await form.locator("[name=retries]").fill("3")
        await form.locator("[name=wait]").fill("-1")
        await submit.click()
        await expect(error).to_contain_text("The wait must be 0 to")

        await expect(page.locator("#defaults-dialog")).to_be_visible()
        await page.click("#defaults-cancel")
        await expect(page.locator("#defaults-dialog")).to_be_hidden()
        assert sent == []
        [rule] = await m.call("types.list")
        assert (rule["time_limit"], rule.get("retry")) == (60, None)

        # Saving only a new retry policy sends only that call: the time limit is unchanged.
        await queue.locator('[data-action="edit-defaults"]').click()
        await expect(error).to_have_text("")
        await form.locator("[name=retries]").fill("0")
        await submit.click()
        await expect(queue.locator("td.defaults")).to_have_text(
            "time limit 60 s · 0 retries", timeout=WAIT
        )
        assert [("types.set_retry" in frame) for frame in sent] == [True]


async def test_a_manager_sets_the_defaults_of_another_type(page: Page, live_server) -> None:
    token = await live_server.token("manager", "newcomer")
    sent = setter_calls(page)
    async with Client(live_server.ws_url, token=token) as m:
        await m.job("report").save()
        await sign_in(page, live_server, token)
        await page.click("#tab-queues")
        await expect(page.locator('#queues-view tr[data-type="report"]')).to_be_visible(
            timeout=WAIT
        )
        add = page.locator("#queues-add-defaults")
        await expect(add).to_have_text("Defaults for another type…")
        form = page.locator("#defaults-dialog form")
        field = form.locator("[name=type]")
        error = page.locator("#defaults-error")

        # Without a type the form says so and calls nothing.
        await add.click()
        await expect(page.locator("#defaults-title")).to_have_text("Defaults for a type")
        await expect(field).to_be_editable()
        await expect(field).to_be_focused()
        await expect(field).to_have_value("")
        await form.locator("[name=time_limit]").fill("120")
        await field.fill("   ")
        await form.locator("button[type=submit]").click()
        await expect(error).to_have_text("A type is required.")
        await expect(page.locator("#defaults-dialog")).to_be_visible()
        assert sent == []

        # A type with no job and no rule: saved, then listed with its defaults.
        await field.fill("  archive  ")
        await form.locator("[name=retries]").fill("3")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#defaults-dialog")).to_be_hidden(timeout=WAIT)
        queue = page.locator('#queues-view tr[data-type="archive"]')
        await expect(queue.locator("td.defaults")).to_have_text(
            "time limit 120 s · 3 retries", timeout=WAIT
        )
        await expect(queue.locator('[data-status="ready"]')).to_have_text("0")
        rules = {rule["type"]: rule for rule in await m.call("types.list")}
        assert (rules["archive"]["time_limit"], rules["archive"]["retry"]["retries"]) == (120, 3)
        job = await m.get_job((await m.job("archive").save()).id)
        assert (job["time_limit"], job["retry"]["retries"]) == (120, 3)

        # The row's own button still opens the form for that type, read-only and filled.
        await queue.locator('[data-action="edit-defaults"]').click()
        await expect(page.locator("#defaults-title")).to_have_text("Defaults for archive")
        await expect(field).not_to_be_editable()
        await expect(field).to_have_value("archive")
        await expect(form.locator("[name=time_limit]")).to_have_value("120")
        await expect(error).to_have_text("")
        await page.click("#defaults-cancel")
        # And opening it for another type again starts empty.
        await add.click()
        await expect(field).to_be_editable()
        await expect(field).to_have_value("")
        await expect(form.locator("[name=time_limit]")).to_have_value("")
        # Typing a type that has defaults shows them: saving keeps what was not changed.
        await field.fill("archive")
        await field.dispatch_event("change")
        await expect(form.locator("[name=time_limit]")).to_have_value("120")
        await expect(form.locator("[name=retries]")).to_have_value("3")
        await page.click("#defaults-cancel")
        await expect(page.locator("#defaults-dialog")).to_be_hidden()


@pytest.mark.parametrize("role", ["creator", "worker"])
async def test_a_role_that_may_not_set_defaults_sees_no_button(
    page: Page, live_server, role: str
) -> None:
    token = await live_server.token(role, f"{role}-d")
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        await admin.job("report").save()
        await admin.set_type_time_limit("report", 300)
    if role == "creator":  # a creator sees only its own jobs
        async with Client(live_server.ws_url, token=token) as own:
            await own.job("report").save()
    queue = await queue_row(page, live_server, token, "report")
    await expect(queue.locator("td.defaults")).to_have_text("time limit 300 s", timeout=WAIT)
    await expect(queue.locator('[data-action="edit-defaults"]')).to_have_count(0)
    await expect(page.locator("#queues-add-defaults")).to_be_hidden()


async def test_a_form_left_open_never_undoes_a_change_made_meanwhile(
    page: Page, live_server
) -> None:
    """The editors save at the revision of the rules they were filled from: another admin's
    change made while the form was open is not overwritten; the form says so and shows the
    rules as they are now, and the next save applies."""
    token = await live_server.token("manager", "mo")
    async with Client(live_server.ws_url, token=token) as m:
        await m.job("render").save()
        await m.set_type_limits("render", concurrency=3)
        queue = await queue_row(page, live_server, token, "render")
        await expect(queue.locator(".concurrency")).to_have_text("≤ 3 running", timeout=WAIT)
        await queue.locator('[data-action="edit-limits"]').click()
        form = page.locator("#limits-dialog form")
        await expect(form.locator("[name=concurrency]")).to_have_value("3")

        await m.set_type_limits("render", concurrency=5)  # another admin, meanwhile
        await form.locator("[name=rate_limit]").fill("100")
        await form.locator("[name=rate_per]").fill("60")
        await form.locator("button[type=submit]").click()
        error = page.locator("#limits-error")
        await expect(error).to_contain_text("someone changed the rules of render meanwhile")
        await expect(page.locator("#limits-dialog")).to_be_visible()
        await expect(form.locator("[name=concurrency]")).to_have_value("5")
        await expect(form.locator("[name=rate_limit]")).to_have_value("")
        rules = await m.type_rules("render")
        assert (rules["concurrency"], rules["rate_limit"]) == (5, None)

        await form.locator("[name=rate_limit]").fill("100")
        await form.locator("[name=rate_per]").fill("60")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#limits-dialog")).to_be_hidden(timeout=WAIT)
        rules = await m.type_rules("render")
        assert (rules["concurrency"], rules["rate_limit"], rules["rate_per"]) == (5, 100, 60)

        # A two-call form (retention: the time, then the counts) chains its revisions.
        await queue.locator('[data-action="edit-retention"]').click()
        retention = page.locator("#retention-dialog form")
        await retention.locator("[name=retain]").fill("600")
        await retention.locator("[name=keep_failed]").fill("4")
        await retention.locator("button[type=submit]").click()
        await expect(page.locator("#retention-dialog")).to_be_hidden(timeout=WAIT)
        rules = await m.type_rules("render")
        assert (rules["retain"], rules["keep"], rules["concurrency"]) == (600, {"failed": 4}, 5)
