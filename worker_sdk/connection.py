"""One WebSocket to a livejobs server: the I/O around ``protocol.Calls`` (what a call's frame
is, which reply answers it, where a push goes), plus deadlines and reconnection.

Calls made in the same turn of the event loop leave together, as one JSON array message (a
worker finishing ten jobs at once sends one message, not ten, and the server runs the ten
reports in one commit).

Given several server URLs (servers sharing one database), a connection that is lost, or that
cannot be opened, moves on to the next URL in turn: workers and subscriptions follow it there.

After a reconnect the connection re-authenticates and then runs the ``on_reconnect`` hooks,
which re-open subscriptions and worker registrations, so callers see one long-lived session.
A call made while the connection is down waits for it (up to the call's deadline); a create or
a read whose reply was lost is sent again on the next connection, a create with the same
request id so the server answers the retry with the first job instead of making another.

The reconnect loop is ours, not websockets' own (``async for ws in connect(uri)``): that one
follows a single URI and knows nothing of re-authenticating or of the hooks above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from livejobs_sdk import protocol
from livejobs_sdk.errors import CallError, ConnectionLost, LivejobsError, UnsupportedVersion
from livejobs_sdk.limits import Slots
from livejobs_sdk.protocol import CREATES, PROTOCOL_VERSION, RETRY_SAFE, Frame

__all__ = ["PROTOCOL_VERSION", "Connection", "Frame", "server_urls"]

log = logging.getLogger("livejobs.sdk")

T = TypeVar("T")

#: how often calls under the default deadline (``call_timeout``) are checked
SWEEP_SECONDS = 1.0


def server_urls(url: str | Sequence[str]) -> list[str]:
    """One URL or several, as a non-empty list."""
    urls = [url] if isinstance(url, str) else list(url)
    if not urls or not all(isinstance(u, str) and u for u in urls):
        raise ValueError("give a server URL, or a list of server URLs (not empty)")
    return urls


class Connection:
    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None,
        *,
        reconnect: bool = True,
        open_timeout: float = 10.0,
        call_timeout: float | None = 30.0,
    ) -> None:
        #: the servers to connect to, in turn; ``url`` is the one in use (or tried next)
        self.urls = server_urls(url)
        self._at = 0
        self.token = token
        self.reconnect = reconnect
        self.open_timeout = open_timeout
        #: a call's deadline when it gives none: waiting for a connection, resends and reply
        self.call_timeout = call_timeout
        self.protocol = PROTOCOL_VERSION
        self.identity: dict[str, Any] = {}
        self._ws: ClientConnection | None = None
        #: the protocol without I/O: calls to send, calls waiting for replies, push handlers
        self.calls = protocol.Calls()
        self._sweeper: asyncio.TimerHandle | None = None
        self._sends: set[asyncio.Task[None]] = set()
        #: calls in flight stay within the server's ``max_pending_calls`` (see ``slots``)
        self.slots = Slots()
        self._connected = asyncio.Event()
        #: set for good once no connection will come back (closed, refused, or no reconnect)
        self._down = asyncio.Event()
        self._down_reason: LivejobsError = ConnectionLost("the client is closed")
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._rehook: asyncio.Task[None] | None = None
        #: frames without a call id, by their "msg" (job, cancel, added, changed, ...)
        self.on_push: dict[str, Callable[[Frame], None]] = self.calls.on_push
        self.on_reconnect: list[Callable[[], Awaitable[None]]] = []
        self.on_disconnect: list[Callable[[], None]] = []
        #: the worker running on this connection (the server takes one per connection)
        self.worker: object | None = None
        self.kin: set[Connection] = set()

    def sibling(self) -> Connection:
        """A new, unopened connection to the same server with the same settings, closed
        with this one."""
        kin = Connection(self.urls, self.token, reconnect=self.reconnect)
        kin._at = self._at
        kin.open_timeout, kin.call_timeout = self.open_timeout, self.call_timeout
        self.kin.add(kin)
        return kin

    @property
    def url(self) -> str:
        return self.urls[self._at]

    def _next_url(self) -> None:
        self._at = (self._at + 1) % len(self.urls)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def open(self) -> None:
        if self._runner is not None:  # open already (``connect()`` then ``async with``)
            return
        for left in range(len(self.urls) - 1, -1, -1):  # the first server that answers
            try:
                await self._open()
                break
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                if not left:
                    raise
                log.info("cannot reach %s (%s); trying the next server", self.url, exc)
                self._next_url()
        self._runner = asyncio.create_task(self._run(), name="livejobs-connection")

    async def close(self) -> None:
        self._closing = True
        for kin in list(self.kin):
            await kin.close()
        self._give_up(ConnectionLost("the client is closed"))
        if self._rehook is not None:  # re-subscribing or re-registering: nothing to come back
            self._rehook.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._sends:  # they fail at once on the closed socket
            await asyncio.gather(*self._sends, return_exceptions=True)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._fail_pending()

    def _fail_pending(self) -> None:
        self.calls.fail_all(lambda: ConnectionLost("connection lost before the reply"))

    async def _open(self) -> None:
        ws = await connect(
            self.url, open_timeout=self.open_timeout, max_size=2**24, compression=None
        )
        try:
            reply = await self._authenticate(ws)
        except BaseException:
            # the server went away (or we were cancelled) between the upgrade and the auth
            # reply: drop the socket now rather than leave it to the garbage collector
            ws.transport.abort()
            raise
        refusal = protocol.auth_refusal(reply, self.protocol)
        if refusal is not None:
            await ws.close()
            raise refusal
        self.identity = reply["result"]
        if (limit := protocol.max_pending(self.identity)) is not None:
            self.slots.resize(limit)
        self._ws = ws
        self._connected.set()

    async def _authenticate(self, ws: ClientConnection) -> Frame:
        reply = await self._auth_call(ws, self.protocol)
        if protocol.legacy(reply):  # a 0.1.0 server: version 1 without the field
            reply = await self._auth_call(ws, None)
        return reply

    async def _auth_call(self, ws: ClientConnection, version: int | None) -> Frame:
        await ws.send(protocol.auth_frame(self.token, version))
        reply: Frame = protocol.decode(await asyncio.wait_for(ws.recv(), self.open_timeout))
        return reply

    async def unless_down(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or the reason no connection will come back (the client
        closed, or the server lost without ``reconnect``) if that happens first: what waits
        for pushes (a worker, a subscription) must not wait forever on a dead client."""
        waiting = asyncio.ensure_future(awaitable)
        down = asyncio.ensure_future(self._down.wait())
        try:
            await asyncio.wait((waiting, down), return_when="FIRST_COMPLETED")
        finally:
            down.cancel()
            if not waiting.done():
                waiting.cancel()
        if waiting.done() and not waiting.cancelled():
            return waiting.result()
        raise self._down_reason

    def _give_up(self, reason: LivejobsError) -> None:
        """No connection will come back: calls waiting for one fail with ``reason``."""
        if not self._down.is_set():
            self._down_reason = reason
            self._down.set()

    async def _run(self) -> None:
        while True:
            assert self._ws is not None
            try:
                async for raw in self._ws:
                    self.calls.receive(raw)
            except ConnectionClosed:
                pass
            self._connected.clear()
            self._fail_pending()
            for hook in self.on_disconnect:
                hook()
            if self._closing or not self.reconnect:
                self._give_up(ConnectionLost("connection lost"))
                return
            await self._reconnect()
            if self._down.is_set():
                return

    async def _reconnect(self) -> None:
        delay, refused = 0.05, 0
        while not self._closing:
            try:
                await self._open()
            except (
                OSError,
                ConnectionClosed,
                InvalidHandshake,
                TimeoutError,
                LivejobsError,
            ) as exc:
                # InvalidHandshake: a port that accepts then drops us, or a proxy's 503, while
                # the server restarts: retry like any refused connection
                if isinstance(exc, UnsupportedVersion):  # retrying cannot help
                    log.error("reconnect refused: %s", exc)
                    self._give_up(exc)
                    return
                # a token revoked, expired or its user deleted: once every server has said so,
                # retrying cannot help, and what waits on this client ends with the refusal
                if isinstance(exc, CallError) and exc.code == "unauthenticated":
                    refused += 1
                    if refused >= len(self.urls):
                        log.error("reconnect refused: %s", exc)
                        self._give_up(exc)
                        return
                else:
                    refused = 0
                log.debug("reconnect to %s failed (%s); retrying in %.2fs", self.url, exc, delay)
                self._next_url()
                if self._at == 0:  # every server tried once more: back off
                    await asyncio.sleep(delay * (1 + random.random() / 2))
                    delay = min(delay * 2, 2.0)
                continue
            # the hooks make calls whose replies this very task reads: run them beside it.
            # Those of the connection before, still waiting for one, would re-subscribe and
            # re-register a second time on this one: they stop, these do it once
            if self._rehook is not None:
                self._rehook.cancel()
            self._rehook = asyncio.create_task(self._run_reconnect_hooks())
            return

    async def _run_reconnect_hooks(self) -> None:
        for hook in self.on_reconnect:
            try:
                await hook()
            except (LivejobsError, TimeoutError) as exc:
                log.warning("re-establishing after reconnect failed: %s", exc)

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        retry: bool | None = None,
    ) -> Any:
        """Call a method within ``timeout`` seconds (default ``call_timeout``; ``TimeoutError``
        after it), waiting for a connection first while reconnecting. ``retry`` (default: for
        creates and reads) sends the call again on the next connection when its reply was lost;
        a create carries a fresh ``request_id`` that its resends reuse. Beyond the server's
        ``max_pending_calls`` in flight, a call waits for a free slot before its deadline
        starts: slots free up as replies come, each within its own deadline."""
        tail = protocol.call_tail(method, params, self.identity)  # encoded once
        if retry is None:  # a create only with a request id (a 0.1.0 server takes none)
            keyed = "protocol" in self.identity or "request_id" in (params or {})
            retry = method in RETRY_SAFE and (method not in CREATES or keyed)
        limit = self.call_timeout if timeout is None else timeout
        async with self.slots.of(method):
            loop = asyncio.get_running_loop()
            deadline = None if limit is None else loop.time() + limit
            return await self._call_until(method, tail, deadline, limit, timeout, retry)

    async def _call_until(
        self,
        method: str,
        tail: str,
        deadline: float | None,
        limit: float | None,
        timeout: float | None,
        retry: bool,
    ) -> Any:
        while True:
            await self._wait_connected(deadline, limit)
            try:
                return await self._call_once(tail, deadline, limit, precise=timeout is not None)
            except ConnectionLost:
                if not retry or self._down.is_set():
                    raise
                log.debug("%s: reply lost with the connection; sending it again", method)

    async def _wait_connected(self, deadline: float | None, limit: float | None) -> None:
        while not self._connected.is_set():
            if self._down.is_set():
                raise self._down_reason
            remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"no connection to the server within {limit}s")
            up = asyncio.ensure_future(self._connected.wait())
            down = asyncio.ensure_future(self._down.wait())
            try:
                await asyncio.wait((up, down), timeout=remaining, return_when="FIRST_COMPLETED")
            finally:
                up.cancel()
                down.cancel()

    async def _call_once(
        self, tail: str, deadline: float | None, limit: float | None, precise: bool
    ) -> Any:
        """One send of a call, in this turn of the loop's message. The default deadline
        (``call_timeout``) is checked by one sweep a second for all calls: a timer per call
        cost a third of the call."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        call_id = self.calls.add(tail, future)
        if len(self.calls.outbox) == 1:
            loop.call_soon(self._flush)
        timer = None
        if deadline is not None and precise:
            timer = loop.call_at(deadline, protocol.expire, future, limit)
        elif deadline is not None:
            self.calls.due[call_id] = (deadline, limit)
            if self._sweeper is None:
                self._sweeper = loop.call_later(SWEEP_SECONDS, self._sweep)
        try:
            return await future
        finally:
            self.calls.forget(call_id)
            if timer is not None:
                timer.cancel()

    def _sweep(self) -> None:
        """Fail the calls past their default deadline; again in a second while any wait."""
        self.calls.expire_due(asyncio.get_running_loop().time())
        self._sweeper = None
        if self.calls.due:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    def _flush(self) -> None:
        """Send the calls of this turn of the loop (``Calls.messages``)."""
        messages = self.calls.messages()
        if not messages:
            return
        assert self._ws is not None
        for message, ids in messages:
            task = asyncio.create_task(self._send(self._ws, message, ids))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _send(self, ws: ClientConnection, message: str, ids: list[int]) -> None:
        try:
            await ws.send(message)
        except ConnectionClosed:
            if ws is self._ws:  # resends wait for the next connection, not this dead one
                self._connected.clear()
            self.calls.fail(ids, lambda: ConnectionLost("connection lost while sending"))
