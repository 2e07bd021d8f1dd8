"""WebSocket messages framed here, in one buffer each, and written to the socket as they are.

Through ASGI a message is text: uvicorn encodes it, and ``websockets`` frames it into a buffer
and copies it out again, so a live run of changes sent to a thousand subscribers was copied
five times per subscriber after its rendering (a third of the server's CPU in fan-out). Here
a run's segments are encoded once for all its members (``Run.encoded``) and each member's
message is one ``join`` that already holds the WebSocket header: one copy, then the socket's.

The frames reach the socket through ``FramesProtocol``, uvicorn's own ``websockets`` protocol
taking one more kind of ``websocket.send`` message: a ``livejobs.frame`` of bytes that are a
whole WebSocket frame. It advertises that in the scope's ``extensions``, only when no WebSocket
extension (compression) was agreed; elsewhere (another ASGI server, compression on) the edge
sends text as before. Flow control, close and disconnect stay uvicorn's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from livejobs.protocol import Frame
from livejobs.runs import RunView
from livejobs.settings import Settings

#: the scope extension, and the key of the ``websocket.send`` message, that carry whole frames
FRAME = "livejobs.frame"
#: the scope extension whose ``lift`` gives an authenticated connection the full message size
AUTHENTICATED = "livejobs.authenticated"
#: the largest message a WebSocket may send until ``auth`` succeeds (a token is 500 characters
#: at most): a message is buffered whole before it is read, so without this anyone could make
#: the server hold ``ws_max_size`` per connection; past it the socket is closed with 1009
PREAUTH_MESSAGE_BYTES = 65_536

_FIN_TEXT = 0x81


def header(length: int) -> bytes:
    """A final, unmasked text frame's header for a payload of ``length`` bytes (RFC 6455)."""
    if length < 126:
        return bytes((_FIN_TEXT, length))
    if length < 65536:
        return struct.pack("!BBH", _FIN_TEXT, 126, length)
    return struct.pack("!BBQ", _FIN_TEXT, 127, length)


def message(frames: list[Frame | RunView]) -> bytes:
    """``frames`` as one WebSocket frame: what ``protocol.join`` makes, framed. A shared run is
    joined from the bytes its members share; a lone one, the common case, in one copy."""
    if len(frames) == 1 and type(frames[0]) is RunView and len(frames[0]):
        view = frames[0]
        sub = view.sub_json.encode()
        segments, length = view.run.encoded()
        count = len(view.run)
        length += count * len(sub)
        segments = segments.copy()
        if count == 1:
            segments[0] = header(length) + segments[0]
        else:
            segments[0] = b"%b[%b" % (header(length + 2), segments[0])
            segments[-1] += b"]"
        return sub.join(segments)
    pieces = [_encoded(entry) for entry in frames]
    if len(pieces) == 1:
        return header(len(pieces[0])) + pieces[0]
    out = [header(sum(map(len, pieces)) + len(pieces) + 1), b"["]  # n - 1 commas, 2 brackets
    for piece in pieces:
        out += (piece, b",")
    out[-1] = b"]"
    return b"".join(out)


def _encoded(entry: Frame | RunView) -> bytes:
    if type(entry) is RunView:
        segments, _ = entry.run.encoded()
        return entry.sub_json.encode().join(segments)
    if type(entry) is str:
        return entry.encode()
    return "".join(entry).encode()  # type: ignore[arg-type]


class FramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets`` protocol, which also writes ``livejobs.frame`` messages, and
    offers the session a writer that writes at once (``Direct``). Until the session lifts it
    (``lift``, once ``auth`` succeeded), a message may be ``PREAUTH_MESSAGE_BYTES`` at most."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # newer websockets name the limit max_message_size, older ones (13 among them) max_size
        self._limit = "max_message_size" if hasattr(self.conn, "max_message_size") else "max_size"
        full = getattr(self.conn, self._limit)
        setattr(self.conn, self._limit, min(PREAUTH_MESSAGE_BYTES, full or PREAUTH_MESSAGE_BYTES))

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code != 101:
            return
        self.scope["extensions"][AUTHENTICATED] = {"lift": self._lift}
        if not self.conn.extensions:
            self.scope["extensions"][FRAME] = {"direct": Direct(self)}

    def _lift(self) -> None:
        setattr(self.conn, self._limit, self.config.ws_max_size)

    def open(self) -> bool:
        """Whether a frame written now goes out (not paused by flow control, not closing)."""
        return (
            self.writable.is_set()
            and not self.disconnected
            and not self.close_sent
            and self.conn.state is State.OPEN
            and not self.transport.is_closing()
        )

    async def send(self, message: Any) -> None:
        frame = message.get(FRAME)
        if frame is None:
            await super().send(message)
            return
        await self.writable.wait()
        if not self.open():
            raise ClientDisconnected()
        self.transport.write(frame)


class Direct:
    """``Session.direct`` on a ``FramesProtocol`` connection: the flusher writes a session's
    frames itself when its writer task is idle, one ``write`` per session and no task switch."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FramesProtocol) -> None:
        self._protocol = protocol

    def ready(self) -> bool:
        return self._protocol.open()

    def write(self, frames: list[Frame | RunView]) -> None:
        self._protocol.transport.write(message(frames))


def lifter(scope: Any) -> Callable[[], None] | None:
    """What gives the connection the full message size once it authenticated, where the server
    limits it before (``FramesProtocol``)."""
    offered = (scope.get("extensions") or {}).get(AUTHENTICATED)
    return None if offered is None else offered["lift"]


def direct(scope: Any) -> Direct | None:
    """The connection's ``Direct`` writer, where the server offers one."""
    offered = (scope.get("extensions") or {}).get(FRAME)
    return None if offered is None else offered["direct"]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The WebSocket side of uvicorn's configuration, the same for ``livejobs serve`` and the
    tests' servers."""
    return {
        "ws": FramesProtocol,
        # frames past max_frame_bytes get a too_large error; only far beyond is the socket cut
        "ws_max_size": settings.max_frame_bytes * 16,
        # compressing every live frame for every subscriber costs more CPU than the fan-out
        # itself; a deployment that pays for bandwidth can turn it on
        "ws_per_message_deflate": settings.ws_compression,
    }
