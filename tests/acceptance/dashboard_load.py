"""The dashboard under a flow of job changes (issue 26): the flow itself (about 1,000 changes a
second through the SDK: creates, claims, completions and cancels), the page's frame times
(``requestAnimationFrame`` deltas collected in the page), its JavaScript heap after a forced GC
(over CDP) and whether the counts it shows are the server's. Shared by
tests/acceptance/test_dashboard_load.py (a short flow, in ``make test``) and bench/dashboard.py
(the issue's 60 s, in ``make bench``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from livejobs_sdk import Client

WORK, DROP = "flow-work", "flow-drop"
TICK = 0.1  # s: the flow's pace; each tick is one batch of every kind of change
#: changes per unit of the flow: a job created, claimed and completed (3) and one created and
#: cancelled (2)
PER_UNIT = 5

#: collects the delta between consecutive animation frames from the page's first script on
FRAMES_JS = """
window.__frames = [];
(() => {
  let last = 0;
  const tick = (now) => {
    if (last) window.__frames.push(now - last);
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""

#: true once every status chip (and the total) shows the count in ``want`` (0 when absent)
_COUNTS_SHOWN = """(want) => [...document.querySelectorAll('#status-counts .chip')].every(
  (chip) => chip.lastChild.textContent.replaceAll(',', '')
    === String(want[chip.dataset.key] ?? 0))"""

_COUNTS_READ = """() => Object.fromEntries(
  [...document.querySelectorAll('#status-counts .chip')].map(
    (chip) => [chip.dataset.key, Number(chip.lastChild.textContent.replaceAll(',', ''))]))"""


@dataclass
class Flow:
    """What a flow did: changes made, for how long, and the ticks it fell behind its pace."""

    changes: int = 0
    seconds: float = 0.0
    late_ticks: int = 0
    kinds: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("created", "claimed", "done", "cancelled"), 0)
    )

    @property
    def rate(self) -> float:
        return self.changes / self.seconds if self.seconds else 0.0


async def run_flow(client: Client, seconds: float, rate: int = 1_000) -> Flow:
    """About ``rate`` job changes a second for ``seconds``; a tick that runs late is not made
    up for (the achieved rate is reported, not forced). Leaves nothing ready or running."""
    units = max(1, round(rate * TICK / PER_UNIT))
    flow, pending = Flow(), []
    started = time.perf_counter()
    tick = 0
    while time.perf_counter() - started < seconds:
        tick += 1
        ids = await client.create_many(
            [(WORK, {"tick": tick})] * units + [(DROP, {"tick": tick})] * units
        )
        flow.kinds["created"] += len(ids)
        if pending:
            await client.cancel_jobs(pending)
            flow.kinds["cancelled"] += len(pending)
        pending = ids[units:]
        await _work(client, units, flow)
        ahead = started + tick * TICK - time.perf_counter()
        if ahead > 0:
            await asyncio.sleep(ahead)  # the pace itself: there is no event to wait for
        else:
            flow.late_ticks += 1
    if pending:
        await client.cancel_jobs(pending)
        flow.kinds["cancelled"] += len(pending)
    await _work(client, 1000, flow)  # whatever work is left ready, completed
    flow.seconds = time.perf_counter() - started
    flow.changes = sum(flow.kinds.values())
    return flow


async def _work(client: Client, limit: int, flow: Flow) -> None:
    """Claim up to ``limit`` jobs of the flow and complete them, the completions pipelined."""
    claimed = await client.call("jobs.claim", {"types": [WORK], "limit": limit, "lease": 600})
    await asyncio.gather(
        *(
            client.call("jobs.done", {"id": job["id"], "lease": job["lease"]["token"]})
            for job in claimed
        )
    )
    flow.kinds["claimed"] += len(claimed)
    flow.kinds["done"] += len(claimed)


async def reset_frames(page: Page) -> None:
    await page.evaluate("window.__frames = []")


async def frames(page: Page) -> list[float]:
    """The frame times (ms) collected since the last ``reset_frames``."""
    return [float(ms) for ms in await page.evaluate("window.__frames")]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


async def heap_after_gc_mb(page: Page) -> float:
    """The page's used JavaScript heap (MB, 10^6 bytes) after a garbage collection."""
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("HeapProfiler.collectGarbage")
        usage = await cdp.send("Runtime.getHeapUsage")
    finally:
        await cdp.detach()
    return float(usage["usedSize"]) / 1e6


async def server_counts(client: Client) -> dict[str, int]:
    """The server's ``jobs.counts`` as the page's status chips key them (``total`` beside)."""
    statuses = (await client.counts())["status"]
    return {"total": sum(statuses.values()), **statuses}


async def counts_exact(page: Page, want: dict[str, Any], timeout_ms: float) -> bool:
    """Whether the page's status chips show ``want`` within ``timeout_ms`` (they are drawn on
    the next animation frame after the count feed's push)."""
    try:
        await page.wait_for_function(_COUNTS_SHOWN, arg=want, timeout=timeout_ms)
    except PlaywrightError:
        return False
    return True


async def page_counts(page: Page) -> dict[str, int]:
    return dict(await page.evaluate(_COUNTS_READ))
