"""One client connection's state: who it is, its subscriptions and worker registration, and
the queue of frames waiting to be written. The WebSocket endpoint is a thin shell around it."""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING

from server.auth import Identity

if TYPE_CHECKING:
    from server.dispatch import Worker
    from server.live.subscriptions import Subscription

#: frames a slow client may have waiting before it is disconnected (it resyncs on reconnect)
MAX_OUTBOX = 20_000
#: a snapshot being sent pauses until the outbox is below this (bulk sends never hit the cap)
LOW_WATER = 2_000


class SessionState(enum.Enum):
    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


class Session:
    def __init__(self, remote: str = "") -> None:
        self.remote = remote
        self.state = SessionState.CONNECTED
        self.identity: Identity | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.worker: Worker | None = None
        #: workers stopped on this connection that may still hold running jobs
        self.retired_workers: list[Worker] = []
        self.pending_calls = 0
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.close_reason: str | None = None
        self.drained = asyncio.Event()

    @property
    def open(self) -> bool:
        return self.state is not SessionState.CLOSED

    def authenticate(self, identity: Identity) -> None:
        if self.state is not SessionState.CONNECTED:
            raise RuntimeError(f"cannot authenticate a {self.state.value} session")
        self.identity = identity
        self.state = SessionState.AUTHENTICATED

    def send(self, frame: str) -> None:
        """Queue a frame without waiting; a client that cannot keep up is cut off."""
        if self.state is SessionState.CLOSED:
            return
        if self.outbox.qsize() >= MAX_OUTBOX:
            self.close("too slow: the client did not read its messages")
            return
        self.outbox.put_nowait(frame)

    async def wait_writable(self) -> None:
        """Backpressure for bulk sends (snapshots): wait until the client has caught up."""
        while self.outbox.qsize() > LOW_WATER and self.state is not SessionState.CLOSED:
            self.drained.clear()
            await self.drained.wait()

    def close(self, reason: str) -> None:
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.close_reason = reason
        self.outbox.put_nowait(None)  # wakes the writer, which closes the socket
        self.drained.set()
