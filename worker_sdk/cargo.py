"""Cargo mode (job-collection's ``payload``): one handler call for up to N pushed jobs.

Each pushed job still has a task of its own in the worker (for its lease, its cancellation and
its report); that task waits here for its share of a batch. A batch starts when a handler slot
is free and takes the jobs waiting then, up to ``payload``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class WorkerJob(Protocol):
    """What a batch needs of a job (``livejobs_sdk.job.WorkerJob``; not imported, which
    would close an import cycle through the worker)."""

    id: str


#: a cargo handler: a list of ``WorkerJob`` in, their results out
BatchHandler = Callable[[list[Any]], Awaitable[Any]]


class Cargo:
    def __init__(
        self,
        handler: BatchHandler,
        payload: int,
        slots: asyncio.Semaphore,
        spawn: Callable[[Awaitable[None]], None],
    ) -> None:
        self.handler, self.payload, self.slots, self.spawn = handler, payload, slots, spawn
        self._waiting: list[tuple[WorkerJob, asyncio.Future[Any]]] = []
        self._loaders = 0  # batches waiting for a handler slot

    async def run(self, job: WorkerJob) -> Any:
        """The handler's result for ``job`` (or its exception) once its batch has run."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        self._load()
        return await future

    def _load(self) -> None:
        while len(self._waiting) > self._loaders * self.payload:
            self._loaders += 1
            self.spawn(self._batch())

    async def _batch(self) -> None:
        async with self.slots:
            self._loaders -= 1
            await asyncio.sleep(0)  # jobs pushed in the same frame join this batch
            taken, self._waiting = self._waiting[: self.payload], self._waiting[self.payload :]
            self._load()
            taken = [(job, future) for job, future in taken if not future.done()]
            if not taken:
                return
            try:
                results = _per_job(
                    [job for job, _ in taken], await self.handler([j for j, _ in taken])
                )
            except Exception as exc:  # one exception fails the whole batch
                results = [exc] * len(taken)
            except BaseException:
                for _, future in taken:
                    future.cancel()
                raise
            for (_, future), result in zip(taken, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def _per_job(jobs: list[WorkerJob], results: Any) -> list[Any]:
    """A list (by position) or a dict (by job id) of results; an exception in it fails only
    that job; ``None`` completes them all without a result."""
    if results is None:
        return [None] * len(jobs)
    if isinstance(results, dict):
        return [results.get(job.id) for job in jobs]
    if isinstance(results, list | tuple) and len(results) == len(jobs):
        return list(results)
    raise TypeError(
        f"a payload handler returns a list of {len(jobs)} results, a dict by job id, or None"
    )
