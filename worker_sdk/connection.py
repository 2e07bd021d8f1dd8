"""One WebSocket to a livejobs server: calls with ids, pushed frames, and reconnection.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from livejobs_sdk import names
from livejobs_sdk.errors import CallError, ConnectionLost, LivejobsError, UnsupportedVersion
from livejobs_sdk.limits import Slots, chunks

log = logging.getLogger("livejobs.sdk")

Frame = dict[str, Any]
_decode = msgspec.json.Decoder().decode
_encoder = msgspec.json.Encoder()


def _encode(obj: Any) -> str:
    return _encoder.encode(obj).decode()


PROTOCOL_VERSION = 1
"""The protocol version this SDK speaks, sent at ``auth``. The SDK imports nothing from
server/, so this is a copy of server/protocol.py's; tests/unit/test_versions.py keeps them equal."""

#: creates the server makes idempotent by ``request_id``: the SDK adds a fresh one to each
CREATES = frozenset(names.CREATES)
#: calls safe to send again when their reply was lost: creates (by request id) and reads
RETRY_SAFE = frozenset(names.RETRY_SAFE)

#: how often calls under the default deadline (``call_timeout``) are checked
SWEEP_SECONDS = 1.0


def _expire(future: asyncio.Future[Any], limit: float | None) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no reply from the server within {limit}s"))


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
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        #: call id -> (deadline, limit) of calls under the default deadline, for ``_sweep``
        self._due: dict[int, tuple[float, float | None]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        #: (call id, frame) of calls waiting for this turn of the loop to end
        self._outbox: list[tuple[int, str]] = []
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
        self.on_push: dict[str, Callable[[Frame], None]] = {}
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
        if reply.get("msg") == "error":
            await ws.close()
            code, message = reply["error"]["code"], reply["error"]["message"]
            if code == UnsupportedVersion.code:
                raise UnsupportedVersion(message, self.protocol)
            raise CallError(code, message)
        self.identity = reply["result"]
        if isinstance(limit := self.identity.get("max_pending_calls"), int) and limit > 0:
            self.slots.resize(limit)
        self._ws = ws
        self._connected.set()

    async def _authenticate(self, ws: ClientConnection) -> Frame:
        params: dict[str, Any] = {"token": self.token or "", "batch": True}
        params["protocol"] = self.protocol
        reply = await self._auth_call(ws, params)
        error = reply.get("error") if reply.get("msg") == "error" else None
        if error and error.get("code") == "invalid" and "`protocol`" in error.get("message", ""):
            # a 0.1.0 server knows no versions (and rejects the field): it speaks version 1
            del params["protocol"]
            reply = await self._auth_call(ws, params)
        return reply

    async def _auth_call(self, ws: ClientConnection, params: dict[str, Any]) -> Frame:
        await ws.send(_encode({"msg": "call", "id": 0, "method": "auth", "params": params}))
        reply: Frame = _decode(await asyncio.wait_for(ws.recv(), self.open_timeout))
        return reply

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
                    message = _decode(raw)
                    if isinstance(message, list):  # a batch of frames (auth with batch)
                        for frame in message:
                            self._on_frame(frame)
                    else:
                        self._on_frame(message)
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
        delay = 0.05
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
                if isinstance(exc, CallError) and exc.code == "unauthenticated":
                    log.error("reconnect refused: %s", exc)
                log.debug("reconnect to %s failed (%s); retrying in %.2fs", self.url, exc, delay)
                self._next_url()
                if self._at == 0:  # every server tried once more: back off
                    await asyncio.sleep(delay * (1 + random.random() / 2))
                    delay = min(delay * 2, 2.0)
                continue
            # the hooks make calls whose replies this very task reads: run them beside it
            self._rehook = asyncio.create_task(self._run_reconnect_hooks())
            return

    async def _run_reconnect_hooks(self) -> None:
        for hook in self.on_reconnect:
            try:
                await hook()
            except (LivejobsError, TimeoutError) as exc:
                log.warning("re-establishing after reconnect failed: %s", exc)

    def _on_frame(self, frame: Frame) -> None:
        kind = frame.get("msg")
        if kind in ("result", "error") and frame.get("id") is not None:
            future = self._pending.pop(frame["id"], None)
            if future is None or future.done():
                return
            if kind == "result":
                future.set_result(frame.get("result"))
            else:
                future.set_exception(CallError(frame["error"]["code"], frame["error"]["message"]))
            return
        handler = self.on_push.get(str(kind))
        if handler is not None:
            handler(frame)
        elif kind == "error":
            log.warning("server error: %s", frame.get("error"))

    def _fail_pending(self) -> None:
        self._outbox = []  # their calls fail below: they must not reach the next connection
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionLost("connection lost before the reply"))

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
        params = dict(params or {})
        if method in CREATES and "request_id" not in params and "protocol" in self.identity:
            params["request_id"] = uuid.uuid4().hex  # a 0.1.0 server would refuse the field
        if retry is None:
            retry = method in RETRY_SAFE
        limit = self.call_timeout if timeout is None else timeout
        tail = f',"method":{_encode(method)},"params":{_encode(params)}}}'  # encoded once
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
        """One send of a call; a resend gets a new call id, so a late reply to a lost send
        could never be taken for its own. The default deadline (``call_timeout``) is checked
        by one sweep a second for all calls: a timer per call cost a third of the call."""
        loop = asyncio.get_running_loop()
        call_id = next(self._ids)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[call_id] = future
        self._outbox.append((call_id, f'{{"msg":"call","id":{call_id}{tail}'))
        if len(self._outbox) == 1:
            loop.call_soon(self._flush)
        timer = None
        if deadline is not None and precise:
            timer = loop.call_at(deadline, _expire, future, limit)
        elif deadline is not None:
            self._due[call_id] = (deadline, limit)
            if self._sweeper is None:
                self._sweeper = loop.call_later(SWEEP_SECONDS, self._sweep)
        try:
            return await future
        finally:
            self._pending.pop(call_id, None)
            if timer is not None:
                timer.cancel()
            else:
                self._due.pop(call_id, None)

    def _sweep(self) -> None:
        """Fail the calls past their default deadline; again in a second while any wait."""
        now = asyncio.get_running_loop().time()
        for call_id, (deadline, limit) in list(self._due.items()):
            if deadline <= now:
                del self._due[call_id]
                future = self._pending.get(call_id)
                if future is not None:
                    _expire(future, limit)
        self._sweeper = None
        if self._due:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    def _flush(self) -> None:
        """Send the calls of this turn of the loop, as few messages as the server's limits
        allow (a message it refused whole would leave every call in it unanswered)."""
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        assert self._ws is not None
        for chunk in chunks(batch):
            ids = [call_id for call_id, _ in chunk]
            message = chunk[0][1] if len(chunk) == 1 else "[" + ",".join(f for _, f in chunk) + "]"
            task = asyncio.create_task(self._send(self._ws, message, ids))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _send(self, ws: ClientConnection, message: str, ids: list[int]) -> None:
        try:
            await ws.send(message)
        except ConnectionClosed:
            if ws is self._ws:  # resends wait for the next connection, not this dead one
                self._connected.clear()
            for call_id in ids:
                future = self._pending.pop(call_id, None)
                if future is not None and not future.done():
                    future.set_exception(ConnectionLost("connection lost while sending"))
