"""Issue 26, the dashboard under load: with 100,000 stored jobs (seeded through the store's batch
path) and about 1,000 job changes a second for 10 s, the page's counts are the server's once the
flow stops, and its JavaScript heap after a forced GC stays small: a page that downloaded the
collection would hold every one of the 100,000 jobs (about 500 B each). Frame times
are recorded (printed and written to test-artifacts/), never asserted: tests do not assert on
timings; bench/dashboard.py gives the issue's 60 s run and its frame p99."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from playwright.async_api import expect

from livejobs_sdk import Client
from tests.acceptance.conftest import Pages
from tests.acceptance.dashboard_kit import ARTIFACTS, MARKS, WAIT, sign_in
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
from tests.acceptance.test_dashboard_windows import JOBS, seed
from tests.servers import ProcessServer

pytestmark = MARKS
FLOW_S = 10.0
RATE = 1_000
#: the issue allows 50 MB at 1,000,000 jobs. At this test's 100,000 the page that downloaded the
#: collection (web/ before live windows) measured 51 MB after GC, the windowed page about 3 MB:
#: 20 MB catches the one with room for the other to grow
HEAP_MB = 20.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def big(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("load") / "jobs.db"
    await seed(db)
    server = ProcessServer(db)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_counts_exact_and_heap_small_after_1000_changes_a_second(
    pages: Pages,
    big,  # type: ignore[no-untyped-def]
) -> None:
    server = big
    page = await pages.open()
    await page.add_init_script(FRAMES_JS)
    await sign_in(page, server, server.admin_token)
    await expect(page.locator("#jobs tbody tr")).to_have_count(50, timeout=WAIT)
    total = page.locator('#status-counts [data-key="total"] .chip-count')
    await expect(total).to_have_text(f"{JOBS:,}", timeout=WAIT)

    async with Client(server.ws_url, token=server.admin_token) as admin:
        await reset_frames(page)
        flow = await run_flow(admin, FLOW_S, RATE)
        times = await frames(page)
        want = await server_counts(admin)
        exact = await counts_exact(page, want, WAIT)
        shown = await page_counts(page)
    heap = await heap_after_gc_mb(page)

    record = {
        "jobs": JOBS,
        "flow_s": round(flow.seconds, 2),
        "changes": flow.changes,
        "changes_per_s": round(flow.rate),
        "late_ticks": flow.late_ticks,
        "frames": len(times),
        "frame_p50_ms": round(percentile(times, 50), 1),
        "frame_p99_ms": round(percentile(times, 99), 1),
        "frame_max_ms": round(max(times, default=float("nan")), 1),
        "heap_after_gc_mb": round(heap, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard-load.json").write_text(json.dumps({**record, "frame_ms": times}))
    print(f"dashboard under load: {record}")

    assert flow.changes >= RATE * FLOW_S / 4, f"the flow made too few changes to mean much: {flow}"
    assert exact, f"the page shows {shown}, the server counts {want}"
    assert want["total"] == JOBS + flow.kinds["created"]
    assert heap <= HEAP_MB, f"heap after GC {heap:.1f} MB: is the page holding the collection?"
