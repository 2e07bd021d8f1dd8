"""Graceful shutdown: on SIGTERM, lose no job and tell every client why the socket closes.

uvicorn's own shutdown drops every WebSocket at once (close code 1012), which would turn every
running lease into a "worker lost" attempt. ``GracefulServer`` first ``drain``s, with the
listener still open so that the state can be seen: ``/readyz`` answers 503 ``draining``, every
session is told ``{"msg": "server", "state": "draining"}``, new WebSockets, workers and claims
are refused as ``unavailable``. Running leases may finish for up to ``grace`` seconds; the rest
are handed back without counting the attempt (as ``jobs.snooze`` with 0 seconds) and each
socket is closed with 1001 (going away). Only then does the listener close and uvicorn's
teardown run. A second SIGTERM or Ctrl-C cuts the drain short: jobs are handed back at once.

The whole stop is bounded, whatever the peers do (a client that never answers the close, a
store locked by another server on the same file): ``grace`` plus ``SHUTDOWN_MARGIN`` seconds
after the signal, the teardown is abandoned and the process exits, the last resort being a
watchdog thread (a thread stuck in the store would otherwise hold ``asyncio.run`` forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from livejobs import protocol
from livejobs.session import Session
from livejobs.state import started

log = logging.getLogger("livejobs.shutdown")

#: how long closing sockets may take to finish their close handshake
CLOSE_TIMEOUT = 5.0
#: seconds past the grace a stop may take in all: hand-back, closes, uvicorn's and the app's
#: teardown (docs/guarantees.md, "Shutdown")
SHUTDOWN_MARGIN = 5.0
#: of which the teardown after the drain gets at least this much
TEARDOWN_SECONDS = 2.0
#: the watchdog's patience beyond the margin, for the event loop to finish on its own
WATCHDOG_SLACK = 1.0


class GracefulServer(uvicorn.Server):
    """uvicorn's server with ``drain`` between "stop listening" and "drop the connections"."""

    def __init__(self, config: uvicorn.Config, app: Starlette, grace: float) -> None:
        super().__init__(config)
        self.livejobs_app = app
        self.grace = grace
        #: monotonic time by which the process has exited, set by the first signal
        self.deadline: float | None = None
        self.watchdog: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:  # a second SIGTERM or SIGINT: stop waiting for running jobs
            self.force_exit = True
        else:
            self._arm_deadline()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, except that the signal is not raised again inside the event loop: a
        SIGINT raised there becomes a KeyboardInterrupt in the app's teardown (a traceback).
        ``serve`` raises it once the loop has finished."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def _arm_deadline(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.grace + SHUTDOWN_MARGIN
            self.watchdog = threading.Timer(self.grace + SHUTDOWN_MARGIN + WATCHDOG_SLACK, _overran)
            self.watchdog.daemon = True  # it never holds the process up
            self.watchdog.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._arm_deadline()  # asked to stop without a signal
        assert self.deadline is not None
        # the listener stays open while draining, so /readyz can answer "draining" and new
        # connections get a clear refusal instead of "connection refused"
        if not self.force_exit:
            try:
                # bounded whatever the store does: the teardown keeps its share of the margin
                async with asyncio.timeout(self._left() - TEARDOWN_SECONDS):
                    await drain(self.livejobs_app, self.grace, abort=lambda: self.force_exit)
            except TimeoutError:
                log.error("draining overran its grace period; closing anyway")
            except Exception:
                log.exception("draining failed; closing anyway")
        # uvicorn's own wait for connections (10 s by default) gets what is left, as does the
        # app's teardown (the store's close); past that the process exits without them
        logging.getLogger("uvicorn.error").addFilter(_cut_short)
        self.config.timeout_graceful_shutdown = max(int(self._left() - TEARDOWN_SECONDS / 2), 1)
        try:
            async with asyncio.timeout(self._left()):
                await super().shutdown(sockets)
                if self.force_exit:  # uvicorn skips the app's teardown then: close the store
                    await self.lifespan.shutdown()
        except TimeoutError:
            log.error("shutdown overran its grace period; exiting without finishing the teardown")

    def _left(self) -> float:
        assert self.deadline is not None
        return max(self.deadline - time.monotonic(), 0.0)


def _cut_short(record: logging.LogRecord) -> bool:
    """A request still running when uvicorn's wait ends is cancelled, and uvicorn logs that
    with a traceback: one line says it better."""
    if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
        record.msg, record.args, record.exc_info = (
            "a request was cut short by the shutdown",
            (),
            None,
        )
    return True


def _overran() -> None:
    """The watchdog: the event loop did not finish in time (a thread stuck in the store)."""
    log.error("shutdown overran its grace period by %.0fs; exiting now", WATCHDOG_SLACK)
    logging.shutdown()
    os._exit(1)


async def drain(app: Starlette, grace: float, abort: Callable[[], bool] = lambda: False) -> int:
    """Stop pushing jobs, wait up to ``grace`` s for running ones, hand back the rest, close
    every session with 1001. Returns how many jobs were handed back."""
    state = started(app)
    if state is None:  # the lifespan never started
        return 0
    dispatcher = state.services.dispatcher
    dispatcher.drain()
    announce_draining(state.sessions)
    running = dispatcher.running
    if running and grace > 0 and not abort():
        log.info("shutting down: waiting up to %.0fs for %d running jobs", grace, running)
    handed = await dispatcher.settle(grace, abort)
    if handed:
        log.info("shutting down: handed %d running jobs back", handed)
    await close_sessions(state.sessions)
    return handed


def announce_draining(sessions: Iterable[Session]) -> None:
    """Tell every authenticated session (others have not seen the auth reply yet; ws.py tells
    them after it) that this server is draining."""
    frame = protocol.server_pushed("draining")
    for session in list(sessions):
        if session.identity is not None and session.open:
            session.send(frame)


async def close_sessions(sessions: set[Session], timeout: float = CLOSE_TIMEOUT) -> None:
    """Close every WebSocket with 1001 and wait (bounded) until each has gone."""
    for session in list(sessions):
        session.close("server shutting down")
    deadline = asyncio.get_running_loop().time() + timeout
    # a session leaves the set when its endpoint finishes; nothing signals that, so look often
    while sessions and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def serve(
    app: Starlette,
    config: uvicorn.Config,
    grace: float,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Run ``app`` (on ``sockets``, already bound, if given) until SIGTERM or SIGINT, then
    shut down gracefully."""
    server = GracefulServer(config, app, grace)
    try:
        server.run(sockets)
    finally:
        if server.watchdog is not None:  # the loop finished in time
            server.watchdog.cancel()
    for sig in server._captured_signals[:1]:
        # end as the signal asked, as a process without handlers would: a shell or a process
        # manager reads the exit status (-15 / -2), and nothing is left to run
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)
