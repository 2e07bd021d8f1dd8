"""``livejobs worker --processes N``: each job runs in a child process (spawned, as Celery's
prefork and BullMQ's sandboxed processors isolate theirs), so that a handler that crashes the
interpreter or holds the CPU cannot take the worker down or starve its heartbeats.

One single-process pool per slot: a child that dies breaks only its own pool, which is replaced,
so the job it ran fails with a clear error and the other slots' jobs carry on. A job cancelled
while running (by a user, or at its time limit) has its child killed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from livejobs_sdk import WorkerJob
from livejobs_sdk.errors import Fatal, Snooze

Handler = Callable[[WorkerJob], Awaitable[Any]]

#: the handlers a child loaded, by (target, types): a child imports the module once
_loaded: dict[tuple[str, tuple[str, ...]], Handler] = {}


class ChildDied(RuntimeError):
    """The process running the job exited before answering (a crash, a kill, ``os._exit``)."""


class _NoConnection:
    """A child has no socket: reporting calls say so instead of hanging."""

    async def call(self, method: str, params: Any = None, **_: Any) -> Any:
        raise RuntimeError(f"{method} is not available in a process-isolated handler")


Load = Callable[[str, tuple[str, ...]], Handler]


def _handler(load: Load, target: str, types: tuple[str, ...]) -> Handler:
    key = (target, types)
    if key not in _loaded:
        _loaded[key] = load(target, types)
    return _loaded[key]


def run_in_child(
    load: Load, target: str, types: tuple[str, ...], doc: dict[str, Any]
) -> tuple[str, Any]:
    """In the child: run the handler ``load`` gives (a module-level function, sent by name)
    on one job. ``Fatal`` and ``Snooze`` come back as values,
    since an exception with its own arguments does not survive pickling as it was."""
    job = WorkerJob(_NoConnection(), doc)  # type: ignore[arg-type]
    try:
        return "done", asyncio.run(_awaited(_handler(load, target, types)(job)))
    except Fatal as exc:
        return "fatal", str(exc)
    except Snooze as exc:
        return "snooze", exc.seconds


async def _awaited(work: Awaitable[Any]) -> Any:
    return await work


class ProcessSlots:
    """An async handler that runs each job in a child process, ``size`` at a time."""

    def __init__(self, load: Load, target: str, types: list[str], size: int) -> None:
        self.load, self.target, self.types = load, target, tuple(types)
        self._context = multiprocessing.get_context("spawn")
        self._free: asyncio.Queue[ProcessPoolExecutor] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(self._pool())

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, mp_context=self._context)

    async def __call__(self, job: WorkerJob) -> Any:
        pool = await self._free.get()
        loop = asyncio.get_running_loop()
        try:
            kind, value = await loop.run_in_executor(
                pool, run_in_child, self.load, self.target, self.types, job.doc
            )
        except BrokenProcessPool:
            pool = self._replace(pool)
            raise ChildDied(
                f"the process running job {job.id} died (crashed or was killed) before it"
                " answered; the worker carries on"
            ) from None
        except asyncio.CancelledError:
            pool = self._replace(pool)  # the child would run on: stop it
            raise
        finally:
            self._free.put_nowait(pool)
        if kind == "fatal":
            raise Fatal(value)
        if kind == "snooze":
            raise Snooze(value)
        return value

    def _replace(self, pool: ProcessPoolExecutor) -> ProcessPoolExecutor:
        _stop(pool)
        return self._pool()

    def close(self) -> None:
        while not self._free.empty():
            _stop(self._free.get_nowait())


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's child, if it has one, and let the pool go."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
