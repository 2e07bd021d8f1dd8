"""Issue 26: the workers view is live without polling. It calls ``workers.watch`` once per
session and redraws from the server's pushes: a worker appearing, the job it holds with its
lease's expiry, the job ending, the worker leaving."""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Page, expect

from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, sign_in

pytestmark = MARKS


async def test_workers_view_follows_pushes_without_polling(page: Page, live_server) -> None:
    calls: list[str] = []

    def on_socket(ws) -> None:
        def sent(payload) -> None:
            for frame in json.loads(payload) if payload.startswith("[") else [json.loads(payload)]:
                calls.append(frame.get("method", ""))

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    await sign_in(page, live_server, live_server.admin_token)
    await page.click("#tab-workers")
    view = page.locator("#workers-view")
    await expect(page.locator("#workers-empty")).to_be_visible(timeout=WAIT)

    release = asyncio.Event()

    async def handler(job):
        await release.wait()
        return "ok"

    worker_token = await live_server.token("worker", "box")
    async with (
        Client(live_server.ws_url, token=live_server.admin_token) as admin,
        Client(live_server.ws_url, token=worker_token) as w,
    ):
        working = asyncio.create_task(w.process_jobs("mail", handler, worker_id="w1"))
        try:
            line = view.locator('tr[data-worker="box/w1"]')
            await expect(line).to_contain_text("idle", timeout=WAIT)
            job = await admin.job("mail", {"n": 1}).save()
            held = line.locator(f'[data-id="{job.id}"]')
            await expect(held).to_contain_text("mail", timeout=WAIT)
            await expect(held.locator(".lease")).to_contain_text("lease in")
            await expect(line).to_contain_text("1 / 1")
            release.set()
            await expect(line).to_contain_text("idle", timeout=WAIT)
        finally:
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
        await expect(line).to_have_count(0, timeout=WAIT)

    assert calls.count("workers.watch") == 1
    assert "workers.list" not in calls  # pushed, not polled
