"""One client connection's state: who it is, its subscriptions and worker registration, and
the queue of frames waiting to be written. The WebSocket endpoint is a thin shell around it."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from typing import TYPE_CHECKING

from server.auth import Identity
from server.protocol import Frame

if TYPE_CHECKING:
    from server.dispatch import Worker
    from server.live.subscriptions import Subscription

#: frames a slow client may have waiting before it is disconnected (it resyncs on reconnect)
MAX_OUTBOX = 20_000
#: a snapshot being sent pauses until the outbox is below this (bulk sends never hit the cap)
LOW_WATER = 2_000
SLOW = "too slow: the client did not read its messages"
#: at most this many frames go into one WebSocket message for a client that batches
MAX_BATCH = 500


class Flusher:
    """Wakes the writers of sessions that have new frames, all at once.

    With few sessions waiting it wakes them on the next loop iteration. When many are waiting
    (a change fanned out to hundreds of subscribers), it waits ``interval`` before the next
    wake-up, so that the changes of that interval ride in one message per client instead of
    one message per change: fewer, larger writes when the server is busiest."""

    def __init__(self, interval: float = 0.025, crowd: int = 100) -> None:
        self.interval = interval
        self.crowd = crowd
        self._dirty: list[Session] = []
        self._armed = False
        self._busy = False

    def mark(self, session: Session) -> None:
        self._dirty.append(session)
        if not self._armed:
            self._armed = True
            loop = asyncio.get_running_loop()
            if self._busy:
                loop.call_later(self.interval, self._flush)
            else:
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._armed = False
        dirty, self._dirty = self._dirty, []
        self._busy = len(dirty) >= self.crowd
        for session in dirty:
            session.wake()


class SessionState(enum.Enum):
    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


_CLOSED = SessionState.CLOSED


class Session:
    def __init__(self, remote: str = "", flusher: Flusher | None = None) -> None:
        self.remote = remote
        self._flusher = flusher or Flusher()
        self._marked = False
        self.state = SessionState.CONNECTED
        self.identity: Identity | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.worker: Worker | None = None
        #: workers stopped on this connection that may still hold running jobs
        self.retired_workers: list[Worker] = []
        self.pending_calls = 0
        #: the client accepts several frames as one JSON array message (``auth`` with batch)
        self.batch = False
        #: the client called ``types.watch``: push it every change of the types' rules
        self.watching_types = False
        self.close_reason: str | None = None
        self.drained = asyncio.Event()
        self._outbox: deque[Frame] = deque()
        self._has_frames = asyncio.Event()

    @property
    def open(self) -> bool:
        return self.state is not SessionState.CLOSED

    def authenticate(self, identity: Identity) -> None:
        if self.state is not SessionState.CONNECTED:
            raise RuntimeError(f"cannot authenticate a {self.state.value} session")
        self.identity = identity
        self.state = SessionState.AUTHENTICATED

    @property
    def queued(self) -> int:
        return len(self._outbox)

    def send(self, frame: Frame) -> None:
        """Queue a reply or a pushed job and wake the writer now; a client that cannot keep
        up is cut off (it resyncs when it reconnects)."""
        if self._queue(frame):
            self.wake()

    def send_live(self, frame: Frame) -> None:
        """Queue a subscription frame; the flusher wakes the writer, with others, soon. This
        runs once per subscriber per change, the hottest line of the fan-out: hence ``_queue``
        written out again, without its call."""
        outbox = self._outbox
        if self.state is _CLOSED or len(outbox) >= MAX_OUTBOX:
            self._queue(frame)  # says why the frame is refused
            return
        outbox.append(frame)
        if not self._marked:
            self._marked = True
            self._flusher.mark(self)

    def _queue(self, frame: Frame) -> bool:
        if self.state is SessionState.CLOSED:
            return False
        if len(self._outbox) >= MAX_OUTBOX:
            self.close(SLOW)
            return False
        self._outbox.append(frame)
        return True

    def wake(self) -> None:
        self._marked = False
        self._has_frames.set()

    async def take(self) -> list[Frame] | None:
        """The frames to write next (all that are queued, up to a batch), or None once closed."""
        while not self._outbox:
            if self.state is SessionState.CLOSED:
                return None
            self._has_frames.clear()
            await self._has_frames.wait()
        if self.state is SessionState.CLOSED and self.close_reason == SLOW:
            return None  # what a too-slow client had queued is dropped: it resyncs on reconnect
        count = min(len(self._outbox), MAX_BATCH if self.batch else 1)
        frames = [self._outbox.popleft() for _ in range(count)]
        if len(self._outbox) <= LOW_WATER:
            self.drained.set()
        return frames

    async def wait_writable(self) -> None:
        """Backpressure for bulk sends (snapshots): wait until the client has caught up."""
        while len(self._outbox) > LOW_WATER and self.state is not SessionState.CLOSED:
            self.drained.clear()
            await self.drained.wait()

    def close(self, reason: str) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.close_reason = reason
        self._has_frames.set()  # wakes the writer, which closes the socket
        self.drained.set()
