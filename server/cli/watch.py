"""``livejobs watch``: a live view of a running server, drawn by ``livejobs.cli.watch_view``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import typer
from rich.console import Console
from rich.live import Live

from livejobs.cli.client import TOKEN, URL, run, stdout
from livejobs.cli.watch_view import WatchState, render
from livejobs_sdk import Client, ConnectionLost

#: how far back ``watch`` looks for failed jobs
FAILURE_WINDOW = 3600.0


def watch(
    job_type: str = typer.Option(None, "--type", help="only jobs of this type"),
    once: bool = typer.Option(False, "--once", help="print one refresh and exit"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """A live view: counts per status, running jobs with progress, recent failures."""
    state = WatchState(url=url, job_type=job_type)
    console = stdout()
    with contextlib.suppress(KeyboardInterrupt):
        run(url, token, lambda c: _watch(c, state, console, once), reconnect=not once)


async def _watch(client: Client, state: WatchState, console: Console, once: bool) -> None:
    """Running jobs and recent failures are live subscriptions; counts are re-read whenever
    those move (debounced) and every two seconds, since new ready jobs move no subscription."""
    base = {"type": state.job_type} if state.job_type else {}
    running = client.subscribe({**base, "status": "running"})
    failed = client.subscribe(
        {**base, "status": "failed", "finished": {"$gte": time.time() - FAILURE_WINDOW}}
    )
    await asyncio.gather(running.start(), failed.start())
    await asyncio.gather(running.ready.wait(), failed.ready.wait())
    state.counts = (await client.counts(base))["status"]
    state.running, state.failures = running.docs, failed.docs
    if once:
        console.print(render(state, time.time()))
        return
    moved = asyncio.Event()

    async def follow(sub: Any) -> None:
        async for _ in sub:
            moved.set()

    async def recount() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(moved.wait(), 2.0)
            moved.clear()
            try:
                state.counts = (await client.counts(base))["status"]
                state.note = None
            except (ConnectionLost, TimeoutError):
                state.note = "reconnecting…"
            await asyncio.sleep(0.25)  # at most four recounts a second, however busy

    with Live(
        console=console,
        refresh_per_second=4,
        transient=False,
        get_renderable=lambda: render(state, time.time()),
    ):
        tasks = [
            asyncio.create_task(follow(running)),
            asyncio.create_task(follow(failed)),
            asyncio.create_task(recount()),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
