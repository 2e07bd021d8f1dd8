"""A private event loop in a daemon thread: how the sync API runs the async ``Client``.

There is one protocol implementation (``Connection`` and ``Client``); the sync API submits
their coroutines to this loop with ``asyncio.run_coroutine_threadsafe`` and blocks the caller's
thread on the answer, so calling threads need no event loop of their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from livejobs_sdk.errors import ClientClosed, ConnectionLost

T = TypeVar("T")


class Runner(Protocol):
    """Runs a coroutine on some event loop and blocks the calling thread for its result."""

    def run(self, coro: Coroutine[Any, Any, T]) -> T: ...


class LoopRunner:
    """A ``Runner`` onto a loop someone else runs (e.g. ``livejobs worker``'s), for the blocking
    ``SyncWorkerJob`` a plain function gets while that loop runs it in a thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise RuntimeError("a blocking livejobs call on its own loop: await the async one")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


class LoopThread:
    """One event loop running forever in a daemon thread until ``stop``."""

    def __init__(self, name: str = "livejobs-sync") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def _check_caller(self) -> None:
        if threading.current_thread() is self._thread:
            # blocking the loop on itself would wait forever
            raise RuntimeError("a sync livejobs call from its own loop: use the async Client")
        if not self.alive:
            raise ClientClosed("the client is closed")

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop; the caller may wait on the future or not."""
        try:
            self._check_caller()
        except RuntimeError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def start(
        self, coro: Coroutine[Any, Any, T]
    ) -> tuple[concurrent.futures.Future[T], threading.Event]:
        """``submit``, with an event set once ``coro`` has ended, even cancelled (the future
        says cancelled at once, while the coroutine may still be unwinding)."""
        ended = threading.Event()

        async def tracked() -> T:
            try:
                return await coro
            finally:
                ended.set()

        try:
            return self.submit(tracked()), ended
        except RuntimeError:
            coro.close()  # ``tracked`` never started, so it never will await it
            raise

    def run(self, coro: Coroutine[Any, Any, T], unwind: float = 0.0) -> T:
        """Run ``coro`` on the loop and wait for its result in this thread. Ctrl-C (or any
        exception while waiting) cancels the coroutine instead of leaving it running, and
        waits up to ``unwind`` seconds for it to end (a worker handing its jobs back before
        the process exits and closes the connection). It runs in a copy of this thread's
        context (``call_soon_threadsafe`` copies it here), so a create made inside a span is
        traced under it (``tracing``)."""
        future, ended = self.start(coro)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise ConnectionLost("the client is closed") from None
        except BaseException:
            future.cancel()
            ended.wait(unwind)
            raise

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function on the loop's thread (to read loop-owned state safely)."""

        async def on_loop() -> T:
            return function()

        return self.run(on_loop())

    def call_soon(self, function: Callable[[], object]) -> None:
        """Schedule ``function`` on the loop without waiting (safe from any thread)."""
        if self.alive:
            self.loop.call_soon_threadsafe(function)

    def stop(self, closing: Callable[[], Awaitable[object]] | None = None) -> None:
        """Run ``closing()`` (bounded), stop the loop and join its thread. Idempotent."""
        if not self.alive:
            return
        if threading.current_thread() is self._thread:
            self.loop.stop()
            return
        if closing is not None:

            async def bounded() -> None:
                await asyncio.wait_for(closing(), 10)

            try:
                asyncio.run_coroutine_threadsafe(bounded(), self.loop).result(15)
            except Exception:  # closing a dead connection must not stop the shutdown
                pass
        self.loop.call_soon_threadsafe(self._cancel_rest)
        self._thread.join(10)

    def _cancel_rest(self) -> None:
        """Cancel what still runs (workers, waits) and then stop the loop."""
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if not tasks:
            self.loop.stop()
            return
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        gathered.add_done_callback(lambda _: self.loop.stop())
