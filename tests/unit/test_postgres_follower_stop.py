"""The PostgreSQL feed's follower stops even when a cancellation is swallowed: Python 3.11's
``wait_for`` can return its inner wait's result instead of raising the cancellation that met
it, and a store's close then waited for the follower forever (a test teardown hung, rarely)."""

from __future__ import annotations

import asyncio
from typing import Any

from livejobs.store.feed import Feed
from livejobs.store.postgres.feed import Follower


async def _no_connection() -> Any:
    raise AssertionError("the follower connects only when started")


async def test_stop_cancels_until_the_task_is_done() -> None:
    follower = Follower(_no_connection, Feed(), lambda: None)
    swallowed = 0

    async def swallows_the_first_cancellation() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(swallows_the_first_cancellation())
    follower._task = task
    await asyncio.sleep(0)  # let it start waiting
    stopping = asyncio.create_task(follower.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    try:
        assert done == {stopping}, "stop() still waits for a follower that swallowed its cancel"
        assert task.cancelled() and swallowed == 2
    finally:
        task.cancel()
        stopping.cancel()
