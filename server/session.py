"""One client connection's state, sans I/O: who it is, how far it got (connected,
authenticated, closed), and the queue of frames waiting to be written, with the caps that cut
a client too slow to read them. The WebSocket endpoint is a thin shell around it; what the
runtime attaches to a connection (its workers, its subscriptions) is
``livejobs.runtime.connection.Connection``'s, not this module's."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from typing import Protocol

from livejobs.auth import Identity
from livejobs.flusher import Flusher
from livejobs.protocol import Frame
from livejobs.runs import RunView

#: frames a slow client may have waiting before it is disconnected (it resyncs on reconnect)
MAX_OUTBOX = 20_000
#: bytes likewise (the ``max_outbox_bytes`` setting): frames differ in size a thousandfold
MAX_OUTBOX_BYTES = 16 * 1024 * 1024
#: a snapshot being sent pauses until the outbox is below this (bulk sends never hit the cap)
LOW_WATER = 2_000
SLOW = "too slow: the client did not read its messages"


def slow_bytes(limit: int) -> str:
    """The close reason of a client cut for bytes (a WebSocket close reason fits 123 bytes)."""
    return f"too slow: over {limit} bytes waiting to be sent (max_outbox_bytes)"


#: at most this many frames go into one WebSocket message for a client that batches
MAX_BATCH = 500


class Direct(Protocol):
    """A writer the edge may offer that writes at once, without the writer task."""

    def ready(self) -> bool:
        """Whether a write now goes straight out (the socket open and not paused)."""
        ...

    def write(self, frames: list[Frame | RunView]) -> None: ...


class SessionState(enum.Enum):
    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


_CLOSED = SessionState.CLOSED


class Session:
    def __init__(
        self, remote: str = "", flusher: Flusher | None = None, max_bytes: int = MAX_OUTBOX_BYTES
    ) -> None:
        self.remote = remote
        #: the client's address (host), which failed authentications back off by
        self.address = ""
        #: failed ``auth`` calls on this connection (it is closed after a few)
        self.auth_failures = 0
        #: bytes the outbox may hold before the client is cut as too slow
        self.max_bytes = max_bytes
        #: a snapshot pauses while more than this is waiting
        self.low_water_bytes = max_bytes // 4
        self._flusher = flusher or Flusher()
        self._marked = False
        self.state = SessionState.CONNECTED
        self.identity: Identity | None = None
        self.pending_calls = 0
        #: the client accepts several frames as one JSON array message (``auth`` with batch)
        self.batch = False
        #: the client called ``types.watch``: push it every change of the types' rules
        self.watching_types = False
        #: the types whose rules it sees (``Permissions.type_filter``; None: every type's)
        self.types_seen: Callable[[str], bool] | None = None
        self.close_reason: str | None = None
        self.drained = asyncio.Event()
        self._outbox: deque[Frame | RunView] = deque()
        #: frames waiting in the outbox, and their characters; a shared run counts once sealed
        self._frames = 0
        self._bytes = 0
        #: cut off as too slow: what it had queued is dropped, not written
        self.cut = False
        #: the writer waiting for frames (a bare future: the writer is its only waiter)
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: the edge's writer that writes at once, if it offers one (``flush``)
        self.direct: Direct | None = None

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
        """Frames waiting to be written (a shared run's counted once it is sealed)."""
        return self._frames

    @property
    def queued_bytes(self) -> int:
        """Characters waiting to be written (a shared run's counted once it is sealed)."""
        return self._bytes

    def send(self, frame: Frame) -> None:
        """Queue a reply or a pushed job and wake the writer now; a client that cannot keep
        up is cut off (it resyncs when it reconnects)."""
        if self._queue(frame):
            self.wake()

    def send_live(self, frame: Frame) -> None:
        """Queue a subscription frame (a snapshot's, or one subscriber's own); the flusher
        wakes the writer, with others, soon."""
        if self._queue(frame):
            self._mark()

    def send_run(self, view: RunView) -> None:
        """Queue this session's view of a group's shared run. Its frames count toward the
        slow-client cap when the run is sealed (``add_frames``): until then it still grows."""
        if self.state is _CLOSED:
            return
        self._outbox.append(view)
        self._mark()

    def _mark(self) -> None:
        """Have the flusher wake this writer at its next flush."""
        if not self._marked:
            self._marked = True
            self._flusher.mark(self)

    def add_frames(self, count: int, size: int) -> None:
        """A run queued here was sealed with ``count`` frames of ``size`` characters."""
        self._frames += count
        self._bytes += size
        if self._frames > MAX_OUTBOX:
            self._cut(SLOW)
        elif self._bytes > self.max_bytes:
            self._cut(slow_bytes(self.max_bytes))

    def _queue(self, frame: Frame) -> bool:
        if self.state is SessionState.CLOSED:
            return False
        if self._frames >= MAX_OUTBOX:
            self._cut(SLOW)
            return False
        size = len(frame) if type(frame) is str else sum(map(len, frame))  # no call: per frame
        if self._bytes and self._bytes + size > self.max_bytes:  # one frame alone always goes
            self._cut(slow_bytes(self.max_bytes))
            return False
        self._outbox.append(frame)
        self._frames += 1
        self._bytes += size
        return True

    def _cut(self, reason: str) -> None:
        """Like Redis's client output buffer limit: a client this far behind is disconnected
        (it resyncs when it reconnects) rather than held in the server's memory."""
        if self.state is not _CLOSED:
            self.cut = True
        self.close(reason)

    def flush(self) -> None:
        """The flusher's wake-up. With the writer task idle and the edge's ``direct`` writer
        ready, what is ready is written here and now: a thousand subscribers of one change
        then cost a thousand writes, not also a thousand task switches."""
        direct, waiter = self.direct, self._waiter
        if (
            direct is not None
            and waiter is not None
            and not waiter.done()
            and self.state is not _CLOSED
            and direct.ready()
        ):
            self._marked = False
            while frames := self._take_ready():  # one frame at a time for a client not batching
                try:
                    direct.write(frames)
                except Exception:  # the socket went: as in the writer task, never the flusher's
                    self.close("write failed")
                    return
                if not direct.ready():
                    break  # paused: the writer task goes on once the socket drains
            else:
                return
        self.wake()

    def wake(self) -> None:
        self._marked = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> list[Frame | RunView] | None:
        """What to write next as one message (all that is queued, up to a batch of frames),
        or None once closed."""
        while True:
            if self.cut:
                return None  # what a too-slow client had queued is dropped: it resyncs later
            taken = self._take_ready()
            if taken:
                return taken
            if self.state is _CLOSED and not self._outbox:
                return None
            if self._loop is None:  # asked once: each ask is a getpid() system call
                self._loop = asyncio.get_running_loop()
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _take_ready(self) -> list[Frame | RunView]:
        """Queued frames up to the first run still gathering changes: that one waits for the
        flush that seals it (and wakes this writer again), so each run is written once whole."""
        outbox = self._outbox
        limit = MAX_BATCH if self.batch else 1
        taken: list[Frame | RunView] = []
        count = chars = 0
        while outbox:
            entry = outbox[0]
            if type(entry) is RunView:
                run = entry.run
                if not run.sealed:
                    if self.state is not _CLOSED:
                        self._mark()
                        break
                    run.seal()
                if not self.batch:  # one frame per message: the run becomes its frames
                    outbox.popleft()
                    outbox.extendleft(reversed(entry.frames()))
                    continue
                size, chars_of = len(run), run.size(len(entry.sub_json))
            else:
                size = 1
                chars_of = len(entry) if type(entry) is str else sum(map(len, entry))  # type: ignore[arg-type]
            if taken and count + size > limit:
                break
            taken.append(outbox.popleft())
            count += size
            chars += chars_of
        self._frames -= count
        self._bytes -= chars
        if taken and self._frames <= LOW_WATER and self._bytes <= self.low_water_bytes:
            self.drained.set()
        return taken

    async def wait_writable(self) -> None:
        """Backpressure for bulk sends (snapshots): wait until the client has caught up."""
        while (
            self._frames > LOW_WATER or self._bytes > self.low_water_bytes
        ) and self.state is not SessionState.CLOSED:
            self.drained.clear()
            await self.drained.wait()

    def close(self, reason: str) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.close_reason = reason
        self.wake()  # the writer closes the socket
        self.drained.set()
