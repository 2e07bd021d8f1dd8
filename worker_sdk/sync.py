"""``SyncClient``: the ``Client`` for synchronous code (Django, Flask, scripts, notebooks).

The same methods and names as the async ``Client``, without ``await``. It is not a second
implementation of the protocol: it owns a private event loop in a daemon thread and runs the
async ``Client`` there. So one instance is safe to share between threads (every call runs on
that one loop), it reconnects exactly as the async client does, and calling threads need no
event loop. It connects on first use, and closes at ``close()``, at the end of a ``with``
block, when garbage-collected, or at interpreter exit. In a forked child (a pre-forking server
after a preload) it starts a connection of its own on first use.

>>> client = SyncClient("ws://127.0.0.1:8000/ws", token=TOKEN)  # e.g. at module level
>>> client.job("email", {"to": "a@b.c"}).retry(retries=3).save()
>>> client.run("echo", {"q": 2}, timeout=10)
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import inspect
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar

from livejobs_sdk.client import Client
from livejobs_sdk.job import Job, WorkerJob
from livejobs_sdk.loop_thread import LoopThread
from livejobs_sdk.sync_jobs import SyncJob, SyncSubscription, SyncWorker, SyncWorkerJob
from livejobs_sdk.threads import in_thread
from livejobs_sdk.worker import Hook

T = TypeVar("T")
P = ParamSpec("P")

#: a handler for ``SyncClient.process_jobs``: a plain function (run in a thread pool, given a
#: ``SyncWorkerJob``) or an ``async def`` (run on the client's loop, given a ``WorkerJob``)
SyncHandler = Callable[[SyncWorkerJob], Any] | Callable[[WorkerJob], Awaitable[Any]]


def blocking(
    method: Callable[Concatenate[Client, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SyncClient, P], T]:
    """``SyncClient.<name>``: the async ``Client.<name>``, same arguments, without ``await``."""

    def call(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._client, *args, **kwargs))

    functools.update_wrapper(call, method)  # its name and docstring
    return call


def _shutdown(loop: LoopThread, client: Client) -> None:
    loop.stop(client.close)


_clients: weakref.WeakSet[SyncClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Connecting:
    """The ``Runner`` a ``SyncJob`` blocks on: its client's loop, connecting it first. Made
    for each job, never kept by the client: a client referring to it would be a cycle, and
    a client dropped would then close only when the garbage collector looks for cycles."""

    def __init__(self, client: SyncClient) -> None:
        self.client = client

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.client._run(coro)


class SyncClient:
    """A blocking, thread-safe client. ``call_timeout`` bounds each call as in ``Client``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        reconnect: bool = True,
        open_timeout: float = 10.0,
        call_timeout: float | None = 30.0,
    ) -> None:
        self._settings = (url, token, reconnect, open_timeout, call_timeout)
        self._opening = threading.Lock()
        self._start()
        _clients.add(self)

    def _start(self) -> None:
        url, token, reconnect, open_timeout, call_timeout = self._settings
        self._loop = LoopThread()
        self._client: Client = self._loop.call(
            lambda: Client(
                url,
                token,
                reconnect=reconnect,
                open_timeout=open_timeout,
                call_timeout=call_timeout,
            )
        )
        self._opened = False
        self._forked = False
        # closes the connection and ends the thread when this object is collected or at
        # interpreter exit (finalize runs its atexit hooks), whichever comes first
        self._finalizer = weakref.finalize(self, _shutdown, self._loop, self._client)

    def _after_fork(self) -> None:
        """In a forked child (gunicorn or uWSGI workers after a preload) the loop thread did
        not come along and the socket is the parent's: the next use starts afresh."""
        if self._finalizer.alive:
            self._finalizer.detach()  # never close the parent's connection from here
            self._forked = True
        self._opening = threading.Lock()  # it may have been held by a parent's thread

    def _fresh(self) -> None:
        if self._forked:
            with self._opening:
                if self._forked:
                    self._start()

    @property
    def async_client(self) -> Client:
        """The async ``Client`` underneath (only to be used on ``loop``)."""
        return self._client

    @property
    def identity(self) -> dict[str, Any]:
        """``{user, role, methods}`` as the server authenticated this client."""
        self.connect()
        return self._loop.call(lambda: dict(self._client.identity))

    def connect(self) -> SyncClient:
        """Connect now (otherwise the first call does): errors surface here."""
        if self._opened and not self._forked:  # every call passes here: no lock once open
            return self
        self._fresh()
        with self._opening:
            if not self._opened:
                self._loop.run(self._client.connect())
                self._opened = True
        return self

    def close(self) -> None:
        """Close the connection and stop the loop thread; idempotent."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive and not self._forked

    def __enter__(self) -> SyncClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            self.connect()
        except BaseException:
            coro.close()
            raise
        return self._loop.run(coro)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        retry: bool | None = None,
    ) -> Any:
        """Any protocol method, as ``Client.call``."""
        return self._run(self._client.call(method, params, timeout, retry=retry))

    # -- jobs ------------------------------------------------------------------------------
    def job(self, job_type: str, data: Any = None) -> SyncJob:
        """A job builder; nothing is stored until ``job.save()``."""
        self._fresh()
        return SyncJob(_Connecting(self), Job(self._client, job_type, data))

    def create_many(
        self,
        jobs: Iterable[SyncJob | Job | tuple[str, Any] | dict[str, Any]],
        timeout: float | None = None,
    ) -> list[str]:
        items = [item.job if isinstance(item, SyncJob) else item for item in jobs]
        return self._run(self._client.create_many(items, timeout))

    def fan_in(
        self,
        jobs: Iterable[SyncJob | Job | tuple[str, Any] | dict[str, Any]],
        then: SyncJob | Job | tuple[str, Any] | dict[str, Any],
        timeout: float | None = None,
    ) -> list[str]:
        """A chord: ``jobs`` and ``then`` depending on them all, in one call (``Client.fan_in``)."""
        items = [item.job if isinstance(item, SyncJob) else item for item in jobs]
        last = then.job if isinstance(then, SyncJob) else then
        return self._run(self._client.fan_in(items, last, timeout))

    def job_handle(self, job_id: str) -> SyncJob:
        return SyncJob(_Connecting(self), self._run(self._client.job_handle(job_id)))

    # the async Client's methods that take and return plain values, run on the loop thread
    get_job = blocking(Client.get_job)
    get_jobs = blocking(Client.get_jobs)
    ready_jobs = blocking(Client.ready_jobs)
    find = blocking(Client.find)
    counts = blocking(Client.counts)
    wait_finished = blocking(Client.wait_finished)
    control = blocking(Client.control)
    cancel_jobs = blocking(Client.cancel_jobs)
    set_priority = blocking(Client.set_priority)
    set_delay = blocking(Client.set_delay)
    restart_jobs = blocking(Client.restart_jobs)
    pause_jobs = blocking(Client.pause_jobs)
    resume_jobs = blocking(Client.resume_jobs)
    remove_jobs = blocking(Client.remove_jobs)
    set_type_retry = blocking(Client.set_type_retry)
    set_type_time_limit = blocking(Client.set_type_time_limit)
    clean = blocking(Client.clean)
    drain = blocking(Client.drain)
    obliterate = blocking(Client.obliterate)
    schedules = blocking(Client.schedules)
    set_type_retain = blocking(Client.set_type_retain)
    set_type_keep = blocking(Client.set_type_keep)
    types = blocking(Client.types)
    type_rules = blocking(Client.type_rules)
    pause_type = blocking(Client.pause_type)
    resume_type = blocking(Client.resume_type)
    set_type_limits = blocking(Client.set_type_limits)
    change_type_rules = blocking(Client.change_type_rules)

    def run(
        self, job_type: str, data: Any = None, timeout: float | None = None, **options: Any
    ) -> Any:
        """Create a job and block until its result (``JobFailed`` if it fails)."""
        return self._run(self._client.run(job_type, data, timeout, **options))

    # -- live ------------------------------------------------------------------------------
    def subscribe(self, filter: dict[str, Any] | None = None, **window: Any) -> SyncSubscription:
        """Live jobs matching ``filter``: ``with client.subscribe(f) as sub: for e in sub``;
        ``sort``, ``limit``, ``skip`` and ``counts`` as ``Client.subscribe``'s."""
        self.connect()
        make = self._client.subscribe
        sub = self._loop.call(lambda: make(filter, **window))
        return SyncSubscription(self._loop, sub, owner=self)

    # -- work ------------------------------------------------------------------------------
    def worker(
        self,
        types: str | Iterable[str],
        handler: SyncHandler,
        *,
        concurrency: int = 1,
        prefetch: int = 0,
        worker_id: str | None = None,
        lease: float | None = None,
        payload: int = 1,
        on_success: Hook | None = None,
        on_failure: Hook | None = None,
    ) -> SyncWorker:
        """A worker: ``run()`` it (blocking) or ``start()`` it in the background. A plain
        handler runs in a pool of ``concurrency`` threads, so it may block. ``payload``,
        ``on_success`` and ``on_failure`` as ``Client.worker`` (hooks run on the loop
        thread and get the async ``WorkerJob``)."""
        self.connect()
        pool = None
        run_one: Callable[[WorkerJob], Awaitable[Any]]
        if _is_async(handler):
            run_one = handler  # type: ignore[assignment]  # an async handler gets a WorkerJob
        else:
            pool = concurrent.futures.ThreadPoolExecutor(
                concurrency, thread_name_prefix="livejobs-handler"
            )
            run_one = _in_pool(self._loop, pool, handler, payload > 1)
        worker = self._client.worker(
            types,
            run_one,
            concurrency=concurrency,
            prefetch=prefetch,
            worker_id=worker_id,
            lease=lease,
            payload=payload,
            on_success=on_success,
            on_failure=on_failure,
        )
        return SyncWorker(self._loop, worker, pool, owner=self)

    def process_jobs(
        self, types: str | Iterable[str], handler: SyncHandler, **options: Any
    ) -> None:
        """Run ``handler`` on pushed jobs of ``types``; blocks until Ctrl-C (running jobs are
        handed back). Use ``worker(...).start()`` to work in the background instead."""
        self.worker(types, handler, **options).run()

    def get_work(
        self, types: str | Iterable[str], max_jobs: int = 1, *, lease: float | None = None
    ) -> list[SyncWorkerJob]:
        """Claim up to ``max_jobs`` ready jobs now (``Client.get_work``)."""
        jobs = self._run(self._client.get_work(types, max_jobs, lease=lease))
        return [SyncWorkerJob(self._loop, job, owner=self) for job in jobs]

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self._opened else "not connected"
        return f"<SyncClient {self._client._conn.url} {state}>"


def _is_async(handler: Callable[..., Any]) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one (a handler class)."""
    call = type(handler).__call__  # a class's method: a function's type has a plain one
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def _in_pool(
    loop: LoopThread,
    pool: concurrent.futures.ThreadPoolExecutor,
    handler: Callable[..., Any],
    batches: bool = False,
) -> Callable[[Any], Coroutine[Any, Any, Any]]:
    async def run_one(job: Any) -> Any:
        context = contextvars.copy_context()  # current_job() and job logging in the thread
        arg = [SyncWorkerJob(loop, j) for j in job] if batches else SyncWorkerJob(loop, job)
        return await in_thread(pool, context.run, handler, arg)

    return run_one
