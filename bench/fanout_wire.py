"""A minimal WebSocket client for scenario 3's subscribers, and nothing else.

The load generator must stay cheaper than the server it loads: scenario 3 runs a thousand
subscribers on the same two cores as the server, so every microsecond a subscriber spends per
message is taken from the server and shows up as "delivery latency". The ``websockets`` library
is a fine general client, but per message it wakes a reader task per connection, validates
UTF-8, queues the message and hands it over through an async iterator; with a thousand
connections that cost about as much CPU as the server's whole fan-out. Here each connection is
one ``asyncio.BufferedProtocol``: the event loop reads straight into a reusable buffer,
``buffer_updated`` parses the server's frames in place and hands each complete message (bytes)
to a callback, synchronously. No task, no queue, no decoding of messages nobody reads.
(A plain ``asyncio.Protocol`` cost 70% more CPU here: each read then allocates a fresh 256 KiB
``bytes``.) ``SO_RCVBUF`` is left to the kernel's auto-tuning: on loopback it grows as needed,
and a fixed 4 MiB made no measurable difference.

What it does (RFC 6455, client side, ``ws://`` only, no extensions offered or accepted):

- the HTTP/1.1 Upgrade handshake: the ``101`` status, ``Upgrade: websocket``,
  ``Connection: upgrade`` and ``Sec-WebSocket-Accept`` are checked; a response that accepts
  an extension or a subprotocol we did not offer is refused;
- server frames parsed incrementally, however the reads split them: 7-, 16- and 64-bit
  lengths, fragmented messages (text or binary first frame, then continuations; a control
  frame may come in between), ping (answered with a pong carrying the same payload), pong
  (ignored), close (answered, then the server closes TCP);
- client frames are masked with a fresh random key, as the RFC requires;
- protocol errors close the connection with 1002: a masked server frame, RSV bits set,
  an unknown opcode, a fragmented or oversized control frame, a continuation without a start,
  a new message inside a fragmented one, a 64-bit length with the top bit set.

What it does not do: validate UTF-8 in text messages (the subscribers count changes by a
substring search on the raw bytes; the sampled ones parse every message with ``json.loads``,
which does decode it), limit message sizes, reconnect, TLS, or flow control (it reads as fast
as the server writes, which is the point).

The rest of the bench talks to livejobs through the SDK, as applications do; a thousand SDK
subscriptions in one process would each parse every frame and keep a copy of every document,
so this client hands pushed messages over raw and the caller decides what to parse. With
``batch=True`` (what the SDK asks for) a message may be a JSON array of frames.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
NORMAL_CLOSURE, PROTOCOL_ERROR, NO_STATUS = 1000, 1002, 1005
READ_BUFFER = 256 * 1024
"""The size of the buffer the event loop reads into (asyncio reads at most this much at once)."""
MAX_HEAD = 64 * 1024
"""The longest handshake response accepted."""
CLOSE_TIMEOUT_S = 10.0


class ProtocolError(Exception):
    """The server broke RFC 6455 (or the handshake): the connection is closed with 1002."""


class CallFailed(Exception):
    """The server answered a call with an error frame."""


class ConnectionClosed(Exception):
    """The connection went before the call was answered."""


class FrameParser:
    """Incremental parser of server-to-client frames.

    ``feed`` takes any bytes-like chunk, however the stream was cut, and calls
    ``on_message(payload)`` for each complete data message (text or binary, fragments joined),
    ``on_ping(payload)`` and ``on_close(code, reason)`` for those control frames. Whatever is
    left of an incomplete frame is kept (copied) until the next chunk completes it.
    """

    __slots__ = ("on_message", "on_ping", "on_close", "_pending", "_need", "_parts")

    def __init__(
        self,
        on_message: Callable[[bytes], None],
        on_ping: Callable[[bytes], None],
        on_close: Callable[[int, str], None],
    ) -> None:
        self.on_message = on_message
        self.on_ping = on_ping
        self.on_close = on_close
        self._pending = bytearray()  # the start of an incomplete frame
        self._need = 0  # bytes it must reach before trying again (0: unknown, try)
        self._parts: list[bytes] | None = None  # a fragmented message in progress

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._pending:
            self._pending += chunk
            if len(self._pending) < self._need:
                return  # a long frame still arriving: do not re-read its header every time
            data = memoryview(self._pending)
            self._pending = bytearray()
        else:
            data = memoryview(chunk)
        end = len(data)
        pos = 0
        self._need = 0  # stays 0 when what is left is only part of a header
        on_message = self.on_message
        while end - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            if b1 & 0x80:
                raise ProtocolError("the server masked a frame")
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                start += 2
                if start > end:
                    break
                length = data[pos + 2] << 8 | data[pos + 3]
            elif length == 127:
                start += 8
                if start > end:
                    break
                length = int.from_bytes(data[pos + 2 : start], "big")
                if length >> 63:
                    raise ProtocolError("64-bit length with the top bit set")
            stop = start + length
            if stop > end:
                self._need = stop - pos
                break
            payload = bytes(data[start:stop])
            pos = stop
            if b0 == 0x81 and self._parts is None:  # a whole text message: the usual case
                on_message(payload)
            else:
                self._frame(b0, payload)
        if pos < end:
            self._pending = bytearray(data[pos:end])
        data.release()

    def _frame(self, b0: int, payload: bytes) -> None:
        if b0 & 0x70:
            raise ProtocolError("RSV bits set, but no extension was negotiated")
        fin = b0 & 0x80
        opcode = b0 & 0x0F
        if opcode >= 0x8:
            if not fin:
                raise ProtocolError("fragmented control frame")
            if len(payload) > 125:
                raise ProtocolError("control frame over 125 bytes")
            if opcode == PING:
                self.on_ping(payload)
            elif opcode == CLOSE:
                if len(payload) == 1:
                    raise ProtocolError("close frame with a 1-byte payload")
                code = int.from_bytes(payload[:2], "big") if payload else NO_STATUS
                try:
                    reason = payload[2:].decode()
                except UnicodeDecodeError:
                    raise ProtocolError("close reason is not UTF-8") from None
                self.on_close(code, reason)
            elif opcode != PONG:
                raise ProtocolError(f"unknown control opcode {opcode:#x}")
        elif opcode == CONTINUATION:
            if self._parts is None:
                raise ProtocolError("continuation frame without a message to continue")
            self._parts.append(payload)
            if fin:
                message = b"".join(self._parts)
                self._parts = None
                self.on_message(message)
        elif opcode in (TEXT, BINARY):
            if self._parts is not None:
                raise ProtocolError("new message before the fragmented one ended")
            if fin:
                self.on_message(payload)
            else:
                self._parts = [payload]
        else:
            raise ProtocolError(f"unknown data opcode {opcode:#x}")


def client_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One final client frame, masked with ``key`` (4 random bytes unless given)."""
    key = os.urandom(4) if key is None else key
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + mask(payload, key)


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR with the repeated 4-byte key (its own inverse), as one big-integer operation."""
    n = len(payload)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class Wire(asyncio.BufferedProtocol):
    """One authenticated livejobs connection. Pushed messages (not call results) go, as raw
    bytes, to ``on_push``, from inside the event loop's read callback: keep it short."""

    buffer = memoryview(bytearray(READ_BUFFER))
    """What every connection reads into: the event loop calls ``get_buffer``, reads, then
    ``buffer_updated``, which consumes the bytes (the parser copies what it keeps) before the
    next read of any connection (one event loop per process, as in the bench). One buffer, never
    resized, stays in cache; one per connection would be 128 MiB for 500 of them."""

    def __init__(self, host: str, resource: str, on_push: Callable[[bytes], None] | None) -> None:
        self.on_push = on_push
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.loop = asyncio.get_running_loop()
        self.key = base64.b64encode(os.urandom(16))
        self.request = (
            f"GET {resource} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nUser-Agent: livejobs-bench-fanout\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.head: bytearray | None = bytearray()  # the handshake response, until it is whole
        self.parser = FrameParser(self._message, self._ping, self._close_received)
        self.close_sent = False
        self.close_code: int | None = None  # what the server's close frame said
        self.error: BaseException | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        token: str,
        on_push: Callable[[bytes], None] | None = None,
        batch: bool = False,
        open_timeout: float = 30.0,
    ) -> Wire:
        """Connect, upgrade and authenticate."""
        parts = urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"only ws://host[:port]/path URLs: {url!r}")
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(open_timeout):
            _, wire = await loop.create_connection(
                lambda: cls(parts.netloc, resource, on_push), parts.hostname, parts.port or 80
            )
            try:
                await wire.opened
            except BaseException:
                wire.abort()
                raise
        await wire.call("auth", {"token": token, "batch": batch})
        return wire

    @property
    def closed(self) -> bool:
        """The TCP connection is gone (the server cut it, or we closed)."""
        return self.lost.done()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if self.closed or self.close_sent:
            raise ConnectionClosed(self.error or "closed")
        call_id = next(self.ids)
        future = self.loop.create_future()
        self.pending[call_id] = future
        frame = json.dumps({"msg": "call", "id": call_id, "method": method, "params": params})
        self._send(TEXT, frame.encode())
        return await future

    async def close(self, code: int = NORMAL_CLOSURE) -> None:
        """The closing handshake: send a close frame, wait for the server's and for it to
        close TCP (RFC 6455 §7.1.1); abort after ``CLOSE_TIMEOUT_S``."""
        if not self.closed:
            self._send_close(code)
            try:
                await asyncio.wait_for(asyncio.shield(self.lost), CLOSE_TIMEOUT_S)
            except TimeoutError:
                self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.buffer[:nbytes])

    def data_received(self, data: bytes | bytearray | memoryview) -> None:
        """Also the entry point for tests (and for a plain ``asyncio.Protocol`` use)."""
        try:
            if self.head is not None:
                data = self._handshake(data)
                if not data:
                    return
            if self.close_code is None:  # after the server's close frame, nothing counts
                self.parser.feed(data)
        except ProtocolError as e:
            self._fail(e)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.error is None:
            self.error = exc
        gone = ConnectionClosed(self.error or f"closed ({self.close_code})")
        if not self.opened.done():  # a refused handshake says why
            self.opened.set_exception(self.error if isinstance(self.error, ProtocolError) else gone)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(gone)
        self.pending.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    # internals

    def _handshake(self, data: bytes | bytearray | memoryview) -> bytes:
        """Collect the response head; once whole, check it and return what follows it."""
        assert self.head is not None
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD:
                raise ProtocolError("handshake response too long")
            return b""
        lines = bytes(self.head[:end]).decode("latin-1").split("\r\n")
        rest = bytes(self.head[end + 4 :])
        status = lines[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/1.1") or status[1] != "101":
            raise ProtocolError(f"handshake refused: {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line {line!r}")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if headers.get("upgrade", "").lower() != "websocket":
            raise ProtocolError("handshake: no Upgrade: websocket")
        if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
            raise ProtocolError("handshake: no Connection: upgrade")
        if headers.get("sec-websocket-accept", "").encode() != accept_for(self.key):
            raise ProtocolError("handshake: wrong Sec-WebSocket-Accept")
        if headers.get("sec-websocket-extensions") or headers.get("sec-websocket-protocol"):
            raise ProtocolError("handshake: the server chose an extension or subprotocol")
        self.head = None
        self.opened.set_result(None)
        return rest

    def _message(self, data: bytes) -> None:
        # a subscriber has no call pending most of the time: pushes then pass unparsed
        if self.pending:
            message = json.loads(data)
            frames = message if isinstance(message, list) else [message]
            replies = [f for f in frames if f.get("msg") in ("result", "error")]
            for reply in replies:
                self._settle(reply)
            if len(replies) == len(frames):
                return
        if self.on_push is not None:
            self.on_push(data)

    def _settle(self, message: dict[str, Any]) -> None:
        future = self.pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if future is None or future.done():
            return
        if message["msg"] == "result":
            future.set_result(message["result"])
        else:
            future.set_exception(CallFailed(message["error"]))

    def _ping(self, payload: bytes) -> None:
        if not self.close_sent:
            self._send(PONG, payload)

    def _close_received(self, code: int, reason: str) -> None:
        self.close_code = code
        if not self.close_sent:  # the server started it: echo its code, it closes TCP
            self._send_close(code if code != NO_STATUS else NORMAL_CLOSURE)
            self.loop.call_later(CLOSE_TIMEOUT_S, self.abort)

    def _send_close(self, code: int) -> None:
        if not self.close_sent and self.transport is not None and not self.closed:
            self._send(CLOSE, code.to_bytes(2, "big"))
            self.close_sent = True

    def _send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(opcode, payload))

    def _fail(self, error: ProtocolError) -> None:
        self.error = error
        if self.head is None:  # frames only once the upgrade went through
            self._send_close(PROTOCOL_ERROR)
        self.abort()
