"""The blocking faces of ``Job``, ``Subscription``, ``WorkerJob`` and ``Worker``.

Each wraps its async original and runs it on the sync client's loop thread (see
``loop_thread``): same names, same arguments, no ``await``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar

from livejobs_sdk import at_exit
from livejobs_sdk.errors import ConnectionLost
from livejobs_sdk.job import Job, WorkerJob
from livejobs_sdk.loop_thread import LoopThread, Runner
from livejobs_sdk.subscription import Event, Subscription
from livejobs_sdk.worker import Worker

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])

#: how long an interrupted ``SyncWorker.run`` waits for its running jobs to be handed back
HAND_BACK_SECONDS = 10.0


class EventView:
    """An ``asyncio.Event`` of the loop thread seen from another thread: ``is_set``, ``wait``."""

    def __init__(self, loop: Runner, event: asyncio.Event) -> None:
        self._loop = loop
        self._event = event

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set (``True``) or ``timeout`` seconds pass (``False``)."""

        async def wait() -> bool:
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return False
            return True

        return self._loop.run(wait())


def _named_as(function: F, method: Callable[..., Any], returns: str) -> F:
    """``function`` under ``method``'s name, docstring and signature (returning ``returns``)."""
    functools.update_wrapper(function, method)
    signature = inspect.signature(method).replace(return_annotation=returns)
    setattr(function, "__signature__", signature)  # noqa: B010  (help() shows the new return)
    return function


def chained(
    method: Callable[Concatenate[Job, P], Job],
) -> Callable[Concatenate[SyncJob, P], SyncJob]:
    """``SyncJob.<option>``: set on the ``Job`` underneath; this ``SyncJob`` for chaining."""

    def option(self: SyncJob, /, *args: P.args, **kwargs: P.kwargs) -> SyncJob:
        method(self.job, *args, **kwargs)
        return self

    return _named_as(option, method, returns="SyncJob")


def controlled(
    method: Callable[Concatenate[Job, P], Coroutine[Any, Any, Job]],
) -> Callable[Concatenate[SyncJob, P], SyncJob]:
    """``SyncJob.<call>``: the ``Job``'s call, blocking; this ``SyncJob`` for chaining."""

    def call(self: SyncJob, /, *args: P.args, **kwargs: P.kwargs) -> SyncJob:
        self._runner.run(method(self.job, *args, **kwargs))
        return self

    return _named_as(call, method, returns="SyncJob")


def reporting(
    method: Callable[Concatenate[WorkerJob, P], Coroutine[Any, Any, None]],
) -> Callable[Concatenate[SyncWorkerJob, P], None]:
    """``SyncWorkerJob.<call>``: the ``WorkerJob``'s reporting call, blocking."""

    def call(self: SyncWorkerJob, /, *args: P.args, **kwargs: P.kwargs) -> None:
        self._loop.run(method(self.job, *args, **kwargs))

    functools.update_wrapper(call, method)  # its name and docstring
    return call


class SyncJob:
    """``Job`` without ``await``: chain options, ``save()``, then control it.

    >>> job = client.job("email", {"to": "a@b.c"}).priority("high").retry(retries=3).save()
    """

    def __init__(self, runner: Runner, job: Job) -> None:
        self._runner = runner  #: the client's: connects it first, then blocks on the call
        self.job = job  #: the async ``Job`` underneath

    @property
    def spec(self) -> dict[str, Any]:
        return self.job.spec

    @property
    def doc(self) -> dict[str, Any] | None:
        return self.job.doc

    # -- builder (before save): each option of ``Job``, returning this ``SyncJob`` ----------
    priority = chained(Job.priority)
    retry = chained(Job.retry)
    delay = chained(Job.delay)
    after = chained(Job.after)
    repeat = chained(Job.repeat)
    key = chained(Job.key)
    debounce = chained(Job.debounce)
    expire = chained(Job.expire)
    target = chained(Job.target)
    exclude = chained(Job.exclude)
    retain = chained(Job.retain)
    keep = chained(Job.keep)
    lifo = chained(Job.lifo)
    unique_for = chained(Job.unique_for)
    private = chained(Job.private)
    time_limit = chained(Job.time_limit)
    group = chained(Job.group)

    def depends(self, *jobs: SyncJob | Job | str | Iterable[SyncJob | Job | str]) -> SyncJob:
        ids: list[str] = []
        for item in jobs:
            for one in [item] if isinstance(item, SyncJob | Job | str) else list(item):
                ids.append(one if isinstance(one, str) else one.id)
        self.job.depends(ids)
        return self

    save = controlled(Job.save)

    # -- handle (after save) ---------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> str | None:
        return self.job.status

    @property
    def data(self) -> Any:
        return self.job.data

    refresh = controlled(Job.refresh)
    cancel = controlled(Job.cancel)
    restart = controlled(Job.restart)
    pause = controlled(Job.pause)
    resume = controlled(Job.resume)
    ready = controlled(Job.ready)
    set_priority = controlled(Job.set_priority)
    set_delay = controlled(Job.set_delay)

    def rerun(self) -> SyncJob:
        return SyncJob(self._runner, self._runner.run(self.job.rerun()))

    def remove(self) -> bool:
        return self._runner.run(self.job.remove())

    def result(self, timeout: float | None = None) -> Any:
        """Block until the job finishes: its result, or ``JobFailed``."""
        return self._runner.run(self.job.result(timeout))

    def __repr__(self) -> str:
        return repr(self.job)


class SyncSubscription:
    """Live results of a filter as a blocking iterator (``for event in sub``) and a context
    manager; ``docs`` is a snapshot copy, ``ready`` an event (``is_set``, ``wait``)."""

    def __init__(self, loop: LoopThread, sub: Subscription, *, owner: object = None) -> None:
        self._loop = loop
        self._sub = sub
        self._owner = owner  #: its ``SyncClient``, closed once collected: kept alive with it
        self.ready = EventView(loop, sub.ready)

    @property
    def filter(self) -> dict[str, Any]:
        return self._sub.filter

    @property
    def sub_id(self) -> str | None:
        return self._sub.sub_id

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        """A copy made on the loop's thread (the live dict changes there)."""
        return self._loop.call(lambda: dict(self._sub.docs))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """A window's jobs in order, copied on the loop's thread."""
        return self._loop.call(lambda: list(self._sub.rows))

    @property
    def counts(self) -> dict[str, Any]:
        return self._loop.call(lambda: dict(self._sub.counts))

    def start(self) -> SyncSubscription:
        self._loop.run(self._sub.start())
        return self

    def __iter__(self) -> SyncSubscription:
        return self

    def __next__(self) -> Event:
        try:
            return self._loop.run(self._sub.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None
        except (ConnectionLost, RuntimeError):
            if self._sub._closed:  # the client closed under the iterating thread
                raise StopIteration from None
            raise

    def next(self, timeout: float | None = None) -> Event:
        """The next event, or ``TimeoutError`` after ``timeout`` seconds."""
        return self._loop.run(self._sub.next(timeout))

    def close(self) -> None:
        if self._loop.alive:
            self._loop.run(self._sub.close())

    def __enter__(self) -> SyncSubscription:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncWorkerJob:
    """The running job a sync handler gets: ``WorkerJob``'s reporting calls, blocking."""

    def __init__(self, loop: Runner, job: WorkerJob, *, owner: object = None) -> None:
        self._loop = loop
        self._owner = owner  #: its ``SyncClient``, closed once collected: kept alive with it
        self.job = job  #: the async ``WorkerJob`` underneath
        self.doc, self.id, self.type = job.doc, job.id, job.type
        self.data, self.private, self.attempt = job.data, job.private, job.attempt
        self.lease_token = job.lease_token
        self.dependency_results = job.dependency_results
        #: set when the job is cancelled while running: a thread cannot be interrupted, so a
        #: long handler checks ``job.cancelled.is_set()`` (its result is then ignored)
        self.cancelled = EventView(loop, job.cancelled)

    log = reporting(WorkerJob.log)
    progress = reporting(WorkerJob.progress)
    fail = reporting(WorkerJob.fail)
    done = reporting(WorkerJob.done)
    heartbeat = reporting(WorkerJob.heartbeat)

    def update_data(self, data: Any, merge: bool = False) -> None:
        """Change this running job's data, as ``WorkerJob.update_data``."""
        self._loop.run(self.job.update_data(data, merge))
        self.data = self.job.data

    def __repr__(self) -> str:
        return f"<SyncWorkerJob {self.type} id={self.id} attempt={self.attempt}>"


class SyncWorker:
    """A ``Worker`` on the loop thread: ``run()`` blocks; ``start()``/``stop()`` (or ``with``)
    run it in the background. ``stop()`` is graceful: running handlers finish first. Ctrl-C
    in ``run()``, or the program ending while it runs in the background, hands the running
    jobs back and sets their ``job.cancelled``."""

    def __init__(
        self,
        loop: LoopThread,
        worker: Worker,
        pool: concurrent.futures.ThreadPoolExecutor | None = None,
        *,
        owner: object = None,
    ) -> None:
        self._loop = loop
        self._owner = owner  #: its ``SyncClient``, closed once collected: kept alive with it
        self.worker = worker  #: the async ``Worker`` underneath
        self._pool = pool
        self._future: concurrent.futures.Future[None] | None = None
        self._ended = threading.Event()

    @property
    def worker_id(self) -> str | None:
        return self.worker.worker_id

    @property
    def completed(self) -> int:
        return self.worker.completed

    def pause(self) -> None:
        """No new jobs until ``resume()``; running ones go on (``Worker.pause``)."""
        self._loop.run(self.worker.pause())

    def resume(self) -> None:
        self._loop.run(self.worker.resume())

    def run(self) -> None:
        """Work until ``stop()`` from another thread; Ctrl-C hands running jobs back."""
        try:  # on Ctrl-C, the running jobs are handed back before this returns
            self._loop.run(self.worker.run(), unwind=HAND_BACK_SECONDS)
        finally:
            self._release()

    def start(self) -> SyncWorker:
        if self._future is None:
            self._future, self._ended = self._loop.start(self.worker.run())
            at_exit.hand_back(self, self._future)
            self._future.add_done_callback(lambda _: self._release())  # e.g. client closed
        return self

    def hand_back(self) -> None:
        """Hand the running jobs back and tell their handlers (``job.cancelled``), waiting
        for it (bounded): at interpreter exit, before Python waits for the handlers' threads,
        which would otherwise wait for ever for a handler waiting to be told."""
        if self._future is not None and not self._future.done():
            self._future.cancel()
            self._ended.wait(HAND_BACK_SECONDS)

    def stop(self, timeout: float | None = None) -> None:
        """Take no more jobs, wait for running handlers (and raise what ended the worker,
        e.g. a refused ``worker.start``). Safe in a signal handler while ``run()`` blocks:
        it then only asks, and ``run()`` returns when the handlers are done."""
        self._loop.call_soon(self.worker.stop)
        if self._future is None:  # a blocked run() returns once the handlers finish
            return
        try:
            self._future.result(timeout)
        finally:
            self._release()

    def _release(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> SyncWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
