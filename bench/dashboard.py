"""Scenario 6, livejobs only (``dashboard``): issue 26's acceptance numbers at full size.

Seeds ``jobs`` jobs (1,000,000 when the budget allows) into a fresh SQLite file through the
store's batch path (bench/windows.py's seeding), starts a server on it, and measures:

- over a raw WebSocket, as bench/windows.py does: sign-in to first rows (ms, bytes; the count
  feed included) and a search by a value in ``data`` and by an error text (ms);
- in Chromium (the acceptance tests' launch), the dashboard itself: sign-in to its first 50
  rows (ms and WebSocket bytes), then about 1,000 job changes a second through the SDK for
  ``flow_s`` (60 s): the page's frame times (``requestAnimationFrame`` deltas), whether its
  status counts equal the server's ``jobs.counts`` once the flow stops, and its JavaScript
  heap after a forced GC.

    python bench/run.py --peers livejobs --scenarios dashboard

Everything is compared with the issue's targets in the report (bench/report.py).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

import windows  # puts the repository root on sys.path for the imports below
from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import ARGS, CHROMIUM, DESKTOP
from tests.acceptance.dashboard_load import (
    FRAMES_JS,
    counts_exact,
    frames,
    heap_after_gc_mb,
    page_counts,
    percentile,
    reset_frames,
    run_flow,
    server_counts,
)
from tests.servers import ProcessServer

#: the sizes tried, largest first: the first whose estimate fits the time left is run
SIZES = (1_000_000, 300_000, 100_000)
SEED_RATE = 6_000  # jobs/s seeded, an allowance below the ~9,000/s two busy cores manage
FLOW_S = 60.0
RATE = 1_000
OVERHEAD_S = 60.0  # server start, reads, Chromium, counts and heap


def cost_s(jobs: int, flow_s: float = FLOW_S) -> float:
    """The estimated seconds of a run at ``jobs`` stored jobs."""
    return jobs / SEED_RATE + flow_s + OVERHEAD_S


def run(workdir: Path, jobs: int, flow_s: float = FLOW_S) -> dict[str, Any]:
    return asyncio.run(_run(workdir, jobs, flow_s))


async def _run(workdir: Path, jobs: int, flow_s: float) -> dict[str, Any]:
    db = workdir / "dashboard.db"
    print(f"dashboard: seeding {jobs:,} jobs", file=sys.stderr, flush=True)
    started = time.perf_counter()
    await windows.seed(db, jobs)
    seed_s = time.perf_counter() - started
    server = ProcessServer(db)
    await server.start()
    try:
        reads = await windows.measure(server.ws_url, jobs)
        print(f"dashboard: Chromium, {flow_s:.0f} s of flow", file=sys.stderr, flush=True)
        browser = await _browser(server, flow_s)
    finally:
        await server.stop()
    return {**reads, **browser, "seed_s": round(seed_s, 1)}


async def _browser(server: ProcessServer, flow_s: float) -> dict[str, Any]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await chromium.new_context(viewport=DESKTOP, locale="en-US")
            page = await context.new_page()
            await page.add_init_script(FRAMES_JS)
            first = await _first_rows(page, server)
            async with Client(server.ws_url, token=server.admin_token) as admin:
                await reset_frames(page)
                flow = await run_flow(admin, flow_s, RATE)
                times = await frames(page)
                want = await server_counts(admin)
                exact = await counts_exact(page, want, 10_000)
                shown = await page_counts(page)
            heap = await heap_after_gc_mb(page)
        finally:
            await chromium.close()
    return {
        **first,
        "flow_s": round(flow.seconds, 1),
        "flow_changes": flow.changes,
        "flow_rate": round(flow.rate),
        "frames": len(times),
        "frame_p50_ms": round(percentile(times, 50), 1),
        "frame_p99_ms": round(percentile(times, 99), 1),
        "frame_max_ms": round(max(times, default=float("nan")), 1),
        "counts_exact": exact,
        "counts_server": want,
        "counts_page": shown,
        "heap_mb": round(heap, 1),
    }


async def _first_rows(page: Page, server: ProcessServer) -> dict[str, Any]:
    """From the sign-in click to the table's 50 rows: milliseconds and WebSocket bytes."""
    received = [0]

    def count(payload: str | bytes) -> None:
        received[0] += len(payload)

    page.on("websocket", lambda ws: ws.on("framereceived", count))
    await page.goto(server.http_url + "/")
    await page.fill("#signin-token", server.admin_token)
    started = time.perf_counter()
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_function(
        "() => document.querySelectorAll('#jobs tbody tr').length >= 50",
        polling="raf",
        timeout=30_000,
    )
    ms = (time.perf_counter() - started) * 1000
    size = received[0]
    await sign_in_settled(page)
    return {"browser_first_rows_ms": round(ms, 1), "browser_first_rows_bytes": size}


async def sign_in_settled(page: Page) -> None:
    """The connection is online (as the tests' ``sign_in`` waits for it)."""
    await page.wait_for_selector('#conn[data-state="online"]', state="attached", timeout=30_000)
