"""Issue 26, live windows: with 100,000 stored jobs (seeded through the store's batch path) the
dashboard signs in to its first rows over at most 1 MB of WebSocket frames, showing the newest
page; a job that enters the page is pushed and the last row leaves it; the counts stay exact;
search finds a job by a value in its data and by its error text (served by the store's text
index, not the browser)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from livejobs.jobs.model import blank_job
from livejobs.store.sqlite import SQLiteStore
from livejobs_sdk import Client
from tests.acceptance.dashboard_kit import MARKS, WAIT, row, sign_in
from tests.servers import ProcessServer

pytestmark = MARKS
JOBS = 100_000
CHUNK = 5_000


async def seed(db: Path, jobs: int = JOBS) -> dict[str, str]:
    """``jobs`` jobs a second apart (the newest last), a third of them failed, two findable."""
    store = SQLiteStore(str(db))
    await store.open()
    marked: dict[str, str] = {}
    start = time.time() - jobs
    try:
        for first in range(0, jobs, CHUNK):
            docs = []
            for n in range(first, min(first + CHUNK, jobs)):
                doc = blank_job(f"t{n % 5}", {"n": n}, owner="admin", now=start + n)
                if n % 3 == 0:
                    doc["status"] = "failed"
                    doc["failures"] = [{"error": {"message": f"timeout after {n % 50} s"}}]
                docs.append(doc)
                if n == 4321:
                    doc["data"] = {"n": n, "customer": "Zanzibar Shipping"}
                    marked["data"] = doc["id"]
                if n == 5001:
                    doc["status"] = "failed"
                    doc["failures"] = [{"error": {"message": "QuuxCorruptionError: bad page"}}]
                    marked["error"] = doc["id"]
            await store.insert(docs)
        marked["newest"] = docs[-1]["id"]
    finally:
        await store.close()
    return marked


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def big(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("big") / "jobs.db"
    marked = await seed(db)
    server = ProcessServer(db)
    await server.start()
    try:
        yield server, marked
    finally:
        await server.stop()


async def test_first_rows_of_100k_jobs_under_1_mb(page: Page, big) -> None:  # type: ignore[no-untyped-def]
    server, marked = big
    received = [0]
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))
        ),
    )
    await sign_in(page, server, server.admin_token)
    rows = page.locator("#jobs tbody tr")
    await expect(rows).to_have_count(50, timeout=WAIT)
    await expect(rows.first).to_have_attribute("data-id", marked["newest"])
    total = page.locator('#status-counts [data-key="total"] .chip-count')
    await expect(total).to_have_text(f"{JOBS:,}", timeout=WAIT)
    assert received[0] <= 1_000_000, f"{received[0]:,} bytes before the first rows"
    print(f"sign-in to first rows: {received[0]:,} bytes over the WebSocket")

    # a job entering the window is pushed; the page stays 50 rows; the counts stay exact
    last = await rows.last.get_attribute("data-id")
    async with Client(server.ws_url, token=server.admin_token) as admin:
        fresh = (await admin.job("t9", {"n": -1}).save()).id
        await expect(rows.first).to_have_attribute("data-id", fresh, timeout=WAIT)
        await expect(row(page, last)).to_have_count(0)
        await expect(rows).to_have_count(50)
        await expect(total).to_have_text(f"{JOBS + 1:,}", timeout=WAIT)
        ready = page.locator('#status-counts [data-key="ready"] .chip-count')
        ready_before = sum(1 for n in range(JOBS) if n % 3 and n != 5001)
        await expect(ready).to_have_text(f"{ready_before + 1:,}")
        # leaving: cancelled, it stays (no status filter) but its row shows the new status
        await admin.cancel_jobs([fresh])
        await expect(row(page, fresh)).to_have_attribute("data-status", "cancelled", timeout=WAIT)
        await expect(
            page.locator('#status-counts [data-key="cancelled"] .chip-count')
        ).to_have_text("1")


async def test_search_by_data_value_and_error_text(page: Page, big) -> None:  # type: ignore[no-untyped-def]
    server, marked = big
    await sign_in(page, server, server.admin_token)
    rows = page.locator("#jobs tbody tr")
    await expect(rows).to_have_count(50, timeout=WAIT)
    for query, wanted in (("zanzibar", marked["data"]), ("QuuxCorruption", marked["error"])):
        await page.fill("#search", query)
        await expect(rows).to_have_count(1, timeout=WAIT)
        await expect(rows.first).to_have_attribute("data-id", wanted)
