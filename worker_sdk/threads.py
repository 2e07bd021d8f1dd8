"""Handlers that run in a thread: a thread cannot be interrupted, so a cancelled run holds on
until its thread has returned.

A worker cancels a handler's run when its job is cancelled, handed back, or lost with the
connection. With ``run_in_executor`` alone the run would end at once while its thread went on:
the handler's slot would be free for the next job (more threads at work than ``concurrency``),
and a job lost with the connection and pushed again to the same worker would run twice at once.
The thread is told through ``job.cancelled``; a second cancel (the client closing) stops
waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar, cast

T = TypeVar("T")

#: threads for typed tasks' plain functions: as many at once as the workers' ``concurrency``
#: asks (asyncio's default pool has only the cores plus four), made as needed and reused
TASK_THREADS = 1024
_task_pool: tuple[int, ThreadPoolExecutor] | None = None


def task_threads() -> Executor:
    """The pool plain task functions run in, typed tasks' and ``livejobs worker MODULE:FUNCTION``'s
    (one per process: a forked child does not inherit the parent's threads)."""
    global _task_pool
    if _task_pool is None or _task_pool[0] != os.getpid():
        pool = ThreadPoolExecutor(TASK_THREADS, thread_name_prefix="livejobs-task")
        _task_pool = (os.getpid(), pool)
    return _task_pool[1]


async def in_thread(executor: Executor | None, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on ``executor`` (None: the loop's default); once cancelled, this
    returns only when the thread has, unless it had not started (it then never will)."""
    loop = asyncio.get_running_loop()
    returned = asyncio.Event()
    lock = threading.Lock()
    state = {"started": False, "abandoned": False}

    def work() -> T:
        with lock:
            if state["abandoned"]:  # its run was cancelled first: nobody reads this
                return cast(T, None)
            state["started"] = True
        try:
            return function(*args)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(returned.set)

    try:
        return await loop.run_in_executor(executor, work)
    except asyncio.CancelledError:
        with lock:
            state["abandoned"] = True
            started = state["started"]
        if started:
            await returned.wait()
        raise
