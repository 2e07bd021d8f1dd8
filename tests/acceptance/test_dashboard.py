"""The web dashboard end to end: a real `livejobs serve` process, the SDK, headless Chromium.

Every wait is one of Playwright's auto-retrying ``expect`` assertions or an SDK call that
returns when the server has done the thing; nothing sleeps. Workers run handlers that block
on ``asyncio.Event``s the test releases, so each progress step is observed before the next.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import ARTIFACTS, MARKS, WAIT, open_job, row, sign_in
from tests.acceptance.test_cli import worker_process
from tests.helpers import wait_status

pytestmark = MARKS


class Gate:
    """A handler step the test releases: the worker blocks until ``open(n)`` is called."""

    def __init__(self, steps: int) -> None:
        self.events = [asyncio.Event() for _ in range(steps)]

    async def wait(self, n: int) -> None:
        await self.events[n].wait()

    def open(self, n: int) -> None:
        self.events[n].set()


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


# -- tests ------------------------------------------------------------------------------------


async def test_sign_in_refuses_a_bad_token_then_shows_the_identity(page: Page, live_server) -> None:
    await page.goto(live_server.http_url + "/")
    await page.fill("#signin-token", "lj_not_a_real_token")
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#signin-error")).to_contain_text("refused", timeout=WAIT)
    assert await page.evaluate("sessionStorage.getItem('livejobs.token')") is None

    token = await live_server.token("manager", "maya")
    await page.fill("#signin-token", token)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    await expect(page.locator("#who-user")).to_have_text("maya")
    await expect(page.locator("#who-role")).to_have_text("manager")
    await expect(page.locator("#jobs-empty")).to_have_text("No jobs match.")

    # The token survives a reload (sessionStorage) and the session resumes by itself.
    await page.reload()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    await expect(page.locator("#who-user")).to_have_text("maya")


async def test_a_job_appears_progresses_and_completes_live(page: Page, live_server) -> None:
    await sign_in(page, live_server, live_server.admin_token)
    gate = Gate(2)

    async def handler(job):
        await job.progress(1, 3)
        await job.log("resizing to 320 px")
        await gate.wait(0)
        await job.progress(2, 3)
        await gate.wait(1)
        return {"thumbnail": "cat-small.png"}

    creator = await live_server.token("creator", "carol")
    worker_token = await live_server.token("worker", "render-box")
    async with (
        Client(live_server.ws_url, token=creator) as c,
        Client(live_server.ws_url, token=worker_token) as w,
    ):
        job = c.job("resize", {"image": "cat.png", "width": 320})
        await job.save()
        line = row(page, job.id)
        await expect(line.locator(".badge")).to_have_text("ready", timeout=WAIT)
        await expect(line.locator("td.type")).to_have_text("resize")
        await expect(page.locator('#status-counts [data-key="ready"] .chip-count')).to_have_text(
            "1"
        )

        working = asyncio.create_task(w.process_jobs("resize", handler, worker_id="render-1"))
        try:
            await expect(line.locator(".badge")).to_have_text("running", timeout=WAIT)
            await expect(line.locator(".percent")).to_have_text("33%", timeout=WAIT)
            await expect(line.locator("td.worker")).to_have_text("render-box/render-1")

            # The workers view lists the worker and the job it is running.
            await page.click("#tab-workers")
            worker_row = page.locator('#workers-view tr[data-worker="render-box/render-1"]')
            await expect(worker_row).to_contain_text("resize", timeout=WAIT)
            await expect(worker_row.locator(f'[data-id="{job.id}"]')).to_be_visible(timeout=WAIT)
            await expect(worker_row).to_contain_text("1 / 1")
            await page.click("#tab-jobs")

            await open_job(page, job.id)
            await expect(page.locator("#detail-data")).to_contain_text('"image": "cat.png"')
            # Log entries say their kind: the handler's line is a log line, the claim is audit.
            log = page.locator("#detail-log")
            await expect(log.locator('[data-kind="log"] .message')).to_have_text(
                ["resizing to 320 px"], timeout=WAIT
            )
            await expect(log.locator('[data-kind="audit"]').last).to_contain_text(
                "started by worker render-box/render-1"
            )
            await expect(page.locator("#detail-audit")).to_contain_text("started by worker")
            await expect(page.locator("#detail-audit")).not_to_contain_text("resizing")

            gate.open(0)
            await expect(line.locator(".percent")).to_have_text("67%", timeout=WAIT)
            await expect(page.locator("#detail-progress-text")).to_contain_text("2 / 3")

            gate.open(1)
            await expect(line.locator(".badge")).to_have_text("completed", timeout=WAIT)
            await expect(line.locator(".percent")).to_have_text("100%")
            await expect(page.locator("#detail-status")).to_have_text("completed")
            await expect(page.locator("#detail-result")).to_contain_text(
                '"thumbnail": "cat-small.png"'
            )
            await expect(page.locator("#detail-log")).to_contain_text("completed")
            # The job keeps the worker of its last attempt once the lease is gone.
            await expect(line.locator("td.worker")).to_have_text("render-box/render-1")
            await expect(page.locator("#detail-facts")).to_contain_text("render-1")
            await expect(
                page.locator('#status-counts [data-key="completed"] .chip-count')
            ).to_have_text("1")
            await expect(page.locator("#throughput-rate")).not_to_have_text("0/s")
        finally:
            await stop(working)


async def test_cancel_from_the_ui_changes_the_stored_job(page: Page, live_server) -> None:
    token = await live_server.token("creator", "dora")
    async with Client(live_server.ws_url, token=token) as c:
        job = await c.job("email", {"to": "ops@example.com"}).delay(3600).save()
        await sign_in(page, live_server, token)
        await expect(row(page, job.id).locator(".badge")).to_have_text("waiting", timeout=WAIT)
        await open_job(page, job.id)

        actions = page.locator("#detail-actions")
        await expect(actions.locator('[data-action="cancel"]')).to_be_enabled()
        await expect(actions.locator('[data-action="restart"]')).to_be_disabled()
        await actions.locator('[data-action="cancel"]').click()

        await expect(row(page, job.id).locator(".badge")).to_have_text("cancelled", timeout=WAIT)
        stored = await c.get_job(job.id)
        assert stored["status"] == "cancelled"
        await expect(page.locator("#detail-audit")).to_contain_text("dora")
        await expect(page.locator("#detail-audit")).to_contain_text("cancelled")
        await expect(actions.locator('[data-action="restart"]')).to_be_enabled()


@pytest.mark.parametrize("role", ["creator", "manager"])
async def test_bulk_actions_on_selected_rows(page: Page, live_server, role: str) -> None:
    # Managers use the bulk form of the method; creators may not, and get one call per job.
    token = await live_server.token(role, "erin")
    async with Client(live_server.ws_url, token=token) as c:
        ids = [(await c.job("sync", {"n": n}).delay(3600).save()).id for n in range(3)]
        await sign_in(page, live_server, token)
        for job_id in ids[:2]:
            await row(page, job_id).locator("td.sel input").check()
        await expect(page.locator("#bulk-count")).to_have_text("2 selected")
        await page.locator('#bulk-actions [data-action="pause"]').click()
        for job_id in ids[:2]:
            await expect(row(page, job_id).locator(".badge")).to_have_text("paused", timeout=WAIT)
        assert [(await c.get_job(i))["status"] for i in ids] == ["paused", "paused", "waiting"]


async def test_a_creator_sees_only_their_own_jobs_and_creates_from_the_form(
    page: Page, live_server
) -> None:
    alice = await live_server.token("creator", "alice")
    bob = await live_server.token("creator", "bob")
    async with (
        Client(live_server.ws_url, token=bob) as b,
        Client(live_server.ws_url, token=alice) as a,
    ):
        theirs = await b.job("invoice", {"customer": "bob-co"}).delay(3600).save()
        mine = await a.job("invoice", {"customer": "alice-co"}).delay(3600).save()
        await sign_in(page, live_server, alice)
        # The subscription delivers in one snapshot: once alice's job shows, bob's would have too.
        await expect(row(page, mine.id)).to_be_visible(timeout=WAIT)
        await expect(row(page, theirs.id)).to_have_count(0)
        await expect(page.locator('#status-counts [data-key="total"] .chip-count')).to_have_text(
            "1"
        )
        # A creator has no workers view (workers.list is not in its methods).
        await expect(page.locator("#tab-workers")).to_be_hidden()

        await page.click("#new-job")
        form = page.locator("#create-dialog form")
        await form.locator("[name=type]").fill("report")
        await form.locator("[name=data]").fill('{"month": "2026-10", "pages": [1, 2]}')
        await form.locator("[name=priority]").select_option("high")
        await form.locator("[name=delay]").fill("600")
        await form.locator("[name=retries]").fill("2")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#create-dialog")).to_be_hidden(timeout=WAIT)
        await expect(page.locator("#detail-type")).to_have_text("report", timeout=WAIT)
        created_id = await page.locator("#detail-id").text_content()
        stored = await a.get_job(created_id)
        assert stored["owner"] == "alice"
        assert stored["data"] == {"month": "2026-10", "pages": [1, 2]}
        assert stored["priority"] == -10 and stored["retry"]["retries"] == 2
        assert stored["status"] == "waiting"
        await expect(row(page, created_id).locator(".badge")).to_have_text("waiting")


async def test_a_worker_role_is_offered_no_actions(page: Page, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        job = await admin.job("crawl", {"url": "https://example.com"}).save()
    token = await live_server.token("worker", "crawler")
    await sign_in(page, live_server, token)
    await open_job(page, job.id)
    await expect(page.locator("#detail-actions-empty")).to_be_visible()
    await expect(page.locator("#detail-actions button")).to_have_count(0)
    await expect(page.locator("#new-job")).to_be_hidden()
    # Nothing to do with a selection: no selection boxes either (issue 26).
    await expect(row(page, job.id).locator("td.sel input")).to_be_hidden()
    await expect(page.locator("#select-page")).to_be_hidden()
    await expect(page.locator("#bulk")).to_be_hidden()


async def test_a_worker_token_reads_no_job_data_in_the_dashboard(page: Page, live_server) -> None:
    """Issue 20, item 15: the server sends a worker no job's data, and the page draws the job
    without the fields it was not sent (no JavaScript error: the fixture checks)."""
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        job = await admin.job("payroll", {"salary": "secret-4200"}).save()
    token = await live_server.token("worker", "snoop")
    await sign_in(page, live_server, token)
    await open_job(page, job.id)
    await expect(page.locator("#detail-type")).to_have_text("payroll")
    await expect(page.locator("#detail-data")).to_be_hidden()
    await expect(page.locator("#detail-result")).to_be_hidden()
    assert "secret-4200" not in await page.content()


async def test_the_page_recovers_after_a_server_restart(page: Page, live_server) -> None:
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        before = await admin.job("ping", {"n": 1}).save()
    await sign_in(page, live_server, live_server.admin_token)
    await expect(row(page, before.id)).to_be_visible(timeout=WAIT)
    await expect(page.locator("#conn")).to_have_attribute("data-sessions", "1")
    # Record every state the badge shows, to see the outage even if it is brief.
    await page.evaluate(
        """() => {
          const badge = document.querySelector('#conn');
          window.seenStates = [];
          new MutationObserver(() => window.seenStates.push(badge.dataset.state))
            .observe(badge, {attributes: true, attributeFilter: ['data-state']});
        }"""
    )

    await live_server.restart()

    await expect(page.locator("#conn")).to_have_attribute("data-sessions", "2", timeout=WAIT)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    assert "offline" in await page.evaluate("window.seenStates")
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        after = await admin.job("ping", {"n": 2}).save()
    await expect(row(page, after.id)).to_be_visible(timeout=WAIT)
    await expect(row(page, before.id)).to_be_visible()
    await expect(page.locator('#status-counts [data-key="total"] .chip-count')).to_have_text("2")


async def test_the_badge_says_draining_while_the_server_drains(
    page: Page, live_server, tmp_path
) -> None:
    """SIGTERM with a job held by a worker: the server drains (grace 20 s) with the listener
    open, pushes {"msg": "server", "state": "draining"}, and the badge says so until it closes."""
    await sign_in(page, live_server, live_server.admin_token)
    async with (
        worker_process(live_server, tmp_path, "cli_handlers:until_handed_back", "--type", "block"),
        Client(live_server.ws_url, token=live_server.admin_token, reconnect=False) as admin,
    ):
        job = await admin.job("block").save()
        await wait_status(admin, job.id, "running")
        live_server.proc.send_signal(signal.SIGTERM)
        await expect(page.locator("#conn-text")).to_have_text("Draining", timeout=WAIT)
        await expect(page.locator("#conn")).to_have_attribute("data-state", "draining")
        live_server.proc.send_signal(signal.SIGTERM)  # a second one ends the drain now
        await asyncio.to_thread(live_server.proc.wait, 10)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "offline", timeout=WAIT)


def queue_row(page: Page, job_type: str):
    return page.locator(f'#queues-view tr[data-type="{job_type}"]')


async def types_list(client: Client) -> dict[str, dict]:
    return {rule["type"]: rule for rule in await client.call("types.list")}


async def test_a_manager_pauses_and_resumes_a_type_from_the_queues_view(
    page: Page, live_server
) -> None:
    token = await live_server.token("manager", "maya")
    worker_token = await live_server.token("worker", "digest-box")

    async def handler(job):
        return {"sent": job.type}

    async with (
        Client(live_server.ws_url, token=token) as m,
        Client(live_server.ws_url, token=worker_token) as w,
    ):
        first = await m.job("digest", {"n": 1}).save()
        working = asyncio.create_task(
            w.process_jobs(["digest", "ping"], handler, worker_id="digest-1")
        )
        try:
            await first.result(timeout=10)
            await sign_in(page, live_server, token)
            await page.click("#tab-queues")
            queue = queue_row(page, "digest")
            await expect(queue.locator('[data-status="completed"]')).to_have_text("1", timeout=WAIT)
            await expect(queue.locator(".state .badge")).to_have_text("active")

            await queue.locator('[data-action="pause-type"]').click()
            await expect(queue.locator(".state .badge")).to_have_text("paused", timeout=WAIT)
            chip = page.locator('#type-counts [data-type="digest"]')
            await expect(chip).to_have_attribute("data-paused", "true")
            await expect(chip.locator(".chip-flag")).to_have_text("paused")
            assert (await types_list(m))["digest"]["paused"] is True

            # The worker is idle and serves both types. It takes the ping created after the
            # digest, so it was offered work since: the paused digest is the one it never got.
            held = await m.job("digest", {"n": 2}).save()
            probe = await m.job("ping").save()
            await probe.result(timeout=10)
            assert (await m.get_job(held.id))["status"] == "ready"
            await expect(queue.locator('[data-status="ready"]')).to_have_text("1", timeout=WAIT)

            await queue.locator('[data-action="resume-type"]').click()
            await expect(queue.locator(".state .badge")).to_have_text("active", timeout=WAIT)
            assert await held.result(timeout=10) == {"sent": "digest"}
            assert not (await types_list(m)).get("digest", {}).get("paused")
            await expect(queue.locator('[data-status="completed"]')).to_have_text("2", timeout=WAIT)
            await expect(chip).to_have_attribute("data-paused", "false")

            # A rule set elsewhere (here through the SDK) is pushed to the page: no reload, no
            # timer (the page has none for rules any more).
            await m.call("types.set_limits", {"type": "digest", "concurrency": 3})
            await expect(queue.locator("td.concurrency")).to_have_text("≤ 3 running", timeout=WAIT)
            await m.call("types.pause", {"type": "digest"})
            await expect(chip).to_have_attribute("data-paused", "true", timeout=WAIT)
            await m.call("types.resume", {"type": "digest"})
            await expect(chip).to_have_attribute("data-paused", "false", timeout=WAIT)

            # The type's name leads to its jobs; the finished job still names its worker.
            await queue.locator('[data-action="show-jobs"]').click()
            await expect(page.locator("#jobs-view")).to_be_visible()
            await expect(page.locator("#filter-type")).to_have_value("digest")
            await expect(row(page, held.id).locator("td.worker")).to_have_text(
                "digest-box/digest-1"
            )
        finally:
            await stop(working)


async def test_a_manager_sets_limits_from_the_queues_view(page: Page, live_server) -> None:
    token = await live_server.token("manager", "mona")
    async with Client(live_server.ws_url, token=token) as m:
        job = await m.job("render", {"frame": 1}).delay(3600).save()
        await sign_in(page, live_server, token)
        await page.click("#tab-queues")
        queue = queue_row(page, "render")
        await expect(queue.locator(".rate")).to_have_text("—", timeout=WAIT)

        await queue.locator('[data-action="edit-limits"]').click()
        form = page.locator("#limits-dialog form")
        await expect(form.locator("[name=type]")).to_have_value("render")
        await form.locator("[name=rate_limit]").fill("100")
        await form.locator("button[type=submit]").click()
        # A rate without its window is refused in the form, before any call.
        await expect(page.locator("#limits-error")).to_contain_text("window")
        assert await m.call("types.list") == []
        await form.locator("[name=rate_per]").fill("60")
        await form.locator("[name=concurrency]").fill("3")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#limits-dialog")).to_be_hidden(timeout=WAIT)
        await expect(queue.locator(".rate")).to_have_text("100 / 60 s")
        await expect(queue.locator(".concurrency")).to_have_text("≤ 3 running")
        assert await m.call("types.list") == [
            {
                "type": "render",
                "paused": False,
                "rate_limit": 100,
                "rate_per": 60,
                "concurrency": 3,
                "rev": 1,
            }
        ]

        # Emptying a field removes that limit and keeps the others.
        await queue.locator('[data-action="edit-limits"]').click()
        await expect(form.locator("[name=rate_limit]")).to_have_value("100")
        await form.locator("[name=concurrency]").fill("")
        await form.locator("button[type=submit]").click()
        await expect(queue.locator(".concurrency")).to_have_text("—", timeout=WAIT)
        rules = (await types_list(m))["render"]
        assert (rules["rate_limit"], rules["rate_per"], rules["concurrency"]) == (100, 60, None)

        # The job's detail names its type's rules.
        await page.click("#tab-jobs")
        await open_job(page, job.id)
        await expect(page.locator("#detail-facts")).to_contain_text("rate 100 / 60 s")

        # A type with no job yet can be limited too.
        await page.click("#tab-queues")
        await page.click("#queues-add")
        await form.locator("[name=type]").fill("export")
        await form.locator("[name=concurrency]").fill("2")
        await form.locator("button[type=submit]").click()
        await expect(queue_row(page, "export").locator(".concurrency")).to_have_text(
            "≤ 2 running", timeout=WAIT
        )
        assert (await types_list(m))["export"]["concurrency"] == 2

        # Naming a type that has limits shows them: saving keeps what was not changed.
        await page.click("#queues-add")
        await form.locator("[name=type]").fill("render")
        await form.locator("[name=type]").dispatch_event("change")
        await expect(form.locator("[name=rate_limit]")).to_have_value("100")
        await expect(form.locator("[name=rate_per]")).to_have_value("60")
        await page.click("#limits-cancel")


async def test_a_creator_sees_the_limits_but_no_controls(page: Page, live_server) -> None:
    token = await live_server.token("creator", "cora")
    async with (
        Client(live_server.ws_url, token=live_server.admin_token) as admin,
        Client(live_server.ws_url, token=token) as c,
    ):
        await c.job("invoice", {"customer": "cora-co"}).delay(3600).save()
        await admin.call("types.set_limits", {"type": "invoice", "rate_limit": 100, "rate_per": 60})
        await admin.call("types.pause", {"type": "invoice"})
        await admin.call("types.set_limits", {"type": "ledger", "concurrency": 2})

        await sign_in(page, live_server, token)
        # The header marks the paused type from the start, without opening the view.
        await expect(page.locator('#type-counts [data-type="invoice"]')).to_have_attribute(
            "data-paused", "true", timeout=WAIT
        )
        await page.click("#tab-queues")
        invoice = queue_row(page, "invoice")
        await expect(invoice.locator(".state .badge")).to_have_text("paused", timeout=WAIT)
        await expect(invoice.locator(".rate")).to_have_text("100 / 60 s")
        await expect(invoice.locator(".concurrency")).to_have_text("—")
        await expect(invoice.locator('[data-status="waiting"]')).to_have_text("1")
        await expect(queue_row(page, "ledger").locator(".concurrency")).to_have_text("≤ 2 running")
        await expect(page.locator("#queues-note")).to_contain_text("read-only")
        await expect(
            page.locator('#queues-view tbody button:not([data-action="show-jobs"])')
        ).to_have_count(0)
        await expect(page.locator("#queues-add")).to_be_hidden()


async def test_main_view_screenshot(page: Page, live_server) -> None:
    """A populated dashboard, saved as test-artifacts/dashboard.png."""
    steps = Gate(1)

    async def handler(job):
        if job.type == "report":
            raise RuntimeError("template 'quarterly' not found")
        await job.log(f"fetching {job.data.get('to', 'input')}", level="info")
        if job.data.get("hold"):
            await job.progress(2, 5)
            await job.log("waiting for the upstream API", level="warning", data={"retry_after": 2})
            await steps.wait(0)
        await job.progress(1, 1)
        return {"delivered": True}

    creator = await live_server.token("creator", "carol")
    async with (
        Client(live_server.ws_url, token=creator) as c,
        Client(live_server.ws_url, token=live_server.admin_token) as w,
    ):
        ids = []
        for n in range(6):
            ids.append(
                (await c.job("email", {"to": f"user{n}@example.com"}).priority("high").save()).id
            )
        await c.job("report", {"month": "2026-10"}).save()
        held = await c.job("resize", {"image": "hero.jpg", "hold": True}).save()
        after_held = await c.job("publish", {"image": "hero.jpg"}).depends(held.id).save()
        await c.job("webhook", {"url": "https://hooks.example.com/a"}).delay(900).save()
        paused = await c.job("webhook", {"url": "https://hooks.example.com/b"}).delay(900).save()
        await paused.pause()
        cancelled = await c.job("sync-crm", {"account": 42}).delay(900).save()
        await cancelled.cancel()
        await c.job("sync-crm", {"account": 43}).save()

        await sign_in(page, live_server, live_server.admin_token)
        working = asyncio.create_task(
            w.process_jobs(
                ["email", "report", "resize"], handler, concurrency=2, worker_id="worker-eu-1"
            )
        )
        try:
            await expect(row(page, ids[-1]).locator(".badge")).to_have_text(
                "completed", timeout=WAIT
            )
            await expect(row(page, held.id).locator(".percent")).to_have_text("40%", timeout=WAIT)
            await expect(
                page.locator('#status-counts [data-key="failed"] .chip-count')
            ).to_have_text("1")
            await open_job(page, held.id)
            await expect(page.locator("#detail-log")).to_contain_text("upstream API")
            # Ids start with their creation time: the table shows the ends, which differ.
            shown = await page.locator("#jobs tbody td code.id").all_text_contents()
            assert len(set(shown)) == len(shown) == 13
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "dashboard.png"
            await page.screenshot(path=str(shot), animations="disabled")
            assert shot.stat().st_size > 10_000

            # Dependencies both ways, and failures, are part of the detail panel too.
            await expect(
                page.locator(f'#detail-needed [data-id="{after_held.id}"] .badge')
            ).to_have_text("waiting")
            await open_job(page, after_held.id)
            waits = page.locator(f'#detail-waits [data-id="{held.id}"] .badge')
            await expect(waits).to_have_text("running")
            steps.open(0)
            # The server drops a completed dependency; the audit trail records it.
            await expect(page.locator("#detail-status")).to_have_text("ready", timeout=WAIT)
            await expect(page.locator("#detail-deps")).to_be_hidden()
            await expect(page.locator("#detail-audit")).to_contain_text(
                f"dependencies done: {held.id}"
            )
            failed = page.locator('#jobs tbody tr[data-status="failed"]')
            await failed.locator("td.type").click()
            await expect(page.locator("#detail-failures")).to_contain_text(
                "quarterly", timeout=WAIT
            )
            await expect(page.locator("#detail-failures")).to_contain_text("Attempt 1")
        finally:
            await stop(working)


async def test_ten_thousand_jobs_stay_paged(page: Page, live_server) -> None:
    count = 10_000
    async with Client(live_server.ws_url, token=live_server.admin_token) as admin:
        ids = await admin.create_many(
            {"type": f"bulk-{n % 4}", "data": {"n": n}, "delay": 3600} for n in range(count)
        )
        await sign_in(page, live_server, live_server.admin_token)
        await expect(page.locator("#pager-info")).to_contain_text(f"{count:,} jobs", timeout=WAIT)
        await expect(page.locator("#jobs tbody tr")).to_have_count(50)
        await expect(page.locator("#pager-page")).to_have_text(f"Page 1 / {count // 50}")

        # Filtering, searching and paging work on the whole set; live changes still show.
        await page.select_option("#filter-type", "bulk-2")
        await expect(page.locator("#pager-info")).to_contain_text(
            f"{count // 4:,} of {count:,} jobs"
        )
        await page.click("#pager-last")
        await expect(page.locator("#pager-page")).to_have_text(
            f"Page {count // 4 // 50} / {count // 4 // 50}"
        )
        await page.select_option("#filter-type", "")
        await page.click('th[data-sort="id"]')
        await expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", min(ids))
        await page.click('th[data-sort="id"]')
        await expect(page.locator("#jobs tbody tr").first).to_have_attribute("data-id", max(ids))

        fresh = await admin.job("bulk-new", {"n": -1}).save()
        await page.fill("#search", fresh.id[-10:])  # what the table shows
        await expect(page.locator("#jobs tbody tr")).to_have_count(1, timeout=WAIT)
        await expect(row(page, fresh.id).locator(".badge")).to_have_text("ready")
        await (await admin.job_handle(fresh.id)).cancel()
        await expect(row(page, fresh.id).locator(".badge")).to_have_text("cancelled", timeout=WAIT)
