"""The calls in flight on one connection, each its own task, and the order promised among them.

Calls naming the same job (``params.id``) on one connection run one after another, in the
order they arrived: a ``jobs.log``, ``jobs.progress`` and ``jobs.done`` pipelined without
waiting for replies would otherwise race through the store, and a ``jobs.log`` could meet a
job its own ``done`` had already finished. Calls about different jobs, or about none, still
run side by side, so a slow call never holds up unrelated pipelined ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Run = Callable[[], Coroutine[Any, Any, None]]


def order_key(params: Any) -> str | None:
    """The job a call is about, if it names one by ``id``."""
    if isinstance(params, dict):
        job_id = params.get("id")
        if isinstance(job_id, str):
            return job_id
    return None


class CallTasks:
    """Every call task of one connection, and per job the latest one (the tail of its chain)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, key: str | None, run: Run) -> None:
        """Start ``run`` now, or once the call before it about the same job has finished."""
        before = self._tails.get(key) if key is not None else None
        task = asyncio.create_task(run() if before is None else _after(before, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._tails[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(key) is task:
            del self._tails[key]

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()


async def _after(before: asyncio.Task[None], run: Run) -> None:
    # wait, not await: the earlier call's outcome (even its cancellation) is its own
    await asyncio.wait((before,))
    await run()
