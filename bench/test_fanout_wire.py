"""``fanout_wire`` without a network: server frames fed in every way a stream can be cut.

Runs under pytest if one is at hand, or on its own: ``bench/.venv/bin/python
bench/test_fanout_wire.py`` (the bench venv has no pytest).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fanout_wire import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    FrameParser,
    ProtocolError,
    Wire,
    accept_for,
    client_frame,
    mask,
)


def server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it, with the shortest length encoding."""
    n = len(payload)
    first = bytes(((0x80 if fin else 0) | rsv | opcode,))
    if n < 126:
        return first + bytes((n,)) + payload
    if n < 1 << 16:
        return first + bytes((126,)) + n.to_bytes(2, "big") + payload
    return first + bytes((127,)) + n.to_bytes(8, "big") + payload


def client_frames(stream: bytes) -> list[tuple[int, bytes]]:
    """Decode what the client wrote: every frame must be final and masked."""
    frames, pos = [], 0
    while pos < len(stream):
        b0, b1 = stream[pos], stream[pos + 1]
        assert b0 & 0x80 and b1 & 0x80, "client frames are final and masked"
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            n, pos = int.from_bytes(stream[pos : pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(stream[pos : pos + 8], "big"), pos + 8
        key, pos = stream[pos : pos + 4], pos + 4
        frames.append((b0 & 0x0F, mask(stream[pos : pos + n], key)))
        pos += n
    return frames


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.pings: list[bytes] = []
        self.closes: list[tuple[int, str]] = []
        self.parser = FrameParser(
            self.messages.append,
            self.pings.append,
            lambda code, reason: self.closes.append((code, reason)),
        )


def feed_in_pieces(stream: bytes, size: int) -> Recorder:
    r = Recorder()
    for i in range(0, len(stream), size):
        r.parser.feed(stream[i : i + size])
    return r


MEDIUM = b'[{"msg":"added"}' + b"x" * 300 + b"]"  # 16-bit length
LARGE = bytes(range(256)) * 300  # 76,800 bytes: 64-bit length


def test_lengths_7_16_64_bit() -> None:
    stream = server_frame(TEXT, b"hi") + server_frame(TEXT, MEDIUM) + server_frame(BINARY, LARGE)
    assert stream[2 + 2 + 1] == 126 and stream[2 + 2 + 4 + len(MEDIUM) + 1] == 127
    r = feed_in_pieces(stream, len(stream))
    assert r.messages == [b"hi", MEDIUM, LARGE]
    assert r.parser._pending == bytearray()


def test_boundary_lengths() -> None:
    sizes = [0, 1, 125, 126, 127, 65535, 65536]
    stream = b"".join(server_frame(TEXT, b"a" * n) for n in sizes)
    assert [len(m) for m in feed_in_pieces(stream, 1000).messages] == sizes


def test_split_across_many_reads() -> None:
    stream = b"".join(
        [
            server_frame(TEXT, b"first"),
            server_frame(TEXT, LARGE),
            server_frame(PING, b"p"),
            server_frame(TEXT, MEDIUM, fin=False),
            server_frame(CONTINUATION, b"-tail"),
            server_frame(TEXT, b"last"),
        ]
    )
    for size in (1, 2, 3, 7, 10, 125, 4096, 65536):
        r = feed_in_pieces(stream, size)
        assert r.messages == [b"first", LARGE, MEDIUM + b"-tail", b"last"], size
        assert r.pings == [b"p"], size
        assert r.parser._pending == bytearray(), size


def test_fragmented_with_control_frame_between() -> None:
    stream = b"".join(
        [
            server_frame(TEXT, b'[{"msg":', fin=False),
            server_frame(PING, b"mid"),
            server_frame(CONTINUATION, b'"changed"}', fin=False),
            server_frame(PONG, b""),
            server_frame(CONTINUATION, b"]"),
            server_frame(BINARY, b"\x00\x01", fin=False),
            server_frame(CONTINUATION, b"\x02"),
        ]
    )
    r = feed_in_pieces(stream, 5)
    assert r.messages == [b'[{"msg":"changed"}]', b"\x00\x01\x02"]
    assert r.pings == [b"mid"]


def test_memoryview_chunks_are_copied_before_reuse() -> None:
    """As with BufferedProtocol: the same buffer is overwritten by the next read."""
    stream = server_frame(TEXT, MEDIUM) + server_frame(TEXT, b"two")
    r, buffer = Recorder(), bytearray(64)
    view = memoryview(buffer)
    for i in range(0, len(stream), 64):
        piece = stream[i : i + 64]
        buffer[: len(piece)] = piece
        r.parser.feed(view[: len(piece)])
        buffer[:] = b"\xff" * 64
    assert r.messages == [MEDIUM, b"two"]


def test_close_frame() -> None:
    r = feed_in_pieces(server_frame(CLOSE, (1001).to_bytes(2, "big") + b"bye"), 1)
    assert r.closes == [(1001, "bye")]
    r = feed_in_pieces(server_frame(CLOSE, b""), 1)
    assert r.closes == [(1005, "")]


def test_protocol_errors() -> None:
    bad = {
        "masked": bytes((0x81, 0x82)) + b"abcd" + b"xy",
        "rsv": server_frame(TEXT, b"x", rsv=0x40),
        "opcode": server_frame(0x3, b"x"),
        "control opcode": server_frame(0xB, b""),
        "fragmented control": server_frame(PING, b"x", fin=False),
        "long control": server_frame(PING, b"x" * 126),
        "lone continuation": server_frame(CONTINUATION, b"x"),
        "nested start": server_frame(TEXT, b"a", fin=False) + server_frame(TEXT, b"b"),
        "1-byte close": server_frame(CLOSE, b"\x03"),
        "top bit": bytes((0x82, 127)) + (1 << 63).to_bytes(8, "big"),
    }
    for name, stream in bad.items():
        try:
            feed_in_pieces(stream, len(stream))
        except ProtocolError:
            continue
        raise AssertionError(f"{name}: accepted")


def test_client_frame_masking() -> None:
    key = b"\x01\x02\x03\x04"
    for n in (0, 5, 125, 126, 70000):
        payload = bytes(i % 251 for i in range(n))
        frame = client_frame(TEXT, payload, key)
        assert client_frames(frame) == [(TEXT, payload)]
        if n:
            assert frame[-n:] != payload
    assert client_frame(TEXT, b"Hello", b"\x37\xfa\x21\x3d") == bytes.fromhex(
        "818537fa213d7f9f4d5158"  # RFC 6455 §5.7's masked "Hello"
    )


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True


def handshake_response(wire: Wire, accept: bytes | None = None) -> bytes:
    accept = accept_for(wire.key) if accept is None else accept
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def opened(pushes: list[bytes]) -> tuple[Wire, FakeTransport]:
    wire, transport = Wire("127.0.0.1:1", "/ws", pushes.append), FakeTransport()
    wire.connection_made(transport)  # type: ignore[arg-type]
    request = bytes(transport.written)
    assert request.startswith(b"GET /ws HTTP/1.1\r\n") and b"Sec-WebSocket-Version: 13" in request
    assert b"Sec-WebSocket-Key: " + wire.key + b"\r\n" in request
    transport.written.clear()
    return wire, transport


def run(coroutine: Any) -> None:
    asyncio.run(coroutine)


def test_wire_handshake_ping_pong_call_and_close() -> None:
    async def scenario() -> None:
        pushes: list[bytes] = []
        wire, transport = opened(pushes)
        # the response head arrives in pieces, the first frame in the same read as its end
        head = handshake_response(wire)
        wire.data_received(head[:10])
        assert not wire.opened.done()
        wire.data_received(head[10:] + server_frame(PING, b"are you there"))
        assert wire.opened.done() and wire.opened.exception() is None
        assert client_frames(bytes(transport.written)) == [(PONG, b"are you there")]
        transport.written.clear()

        call = asyncio.ensure_future(wire.call("subscribe", {"filter": {}}))
        await asyncio.sleep(0)
        [(opcode, sent)] = client_frames(bytes(transport.written))
        assert opcode == TEXT
        assert json.loads(sent) == {
            "msg": "call",
            "id": 1,
            "method": "subscribe",
            "params": {"filter": {}},
        }
        reply = b'[{"msg":"result","id":1,"result":{"sub":"s1"}},{"msg":"ready","sub":"s1"}]'
        frame = server_frame(TEXT, reply)
        wire.buffer[: len(frame)] = frame  # the BufferedProtocol path: read into its buffer
        wire.buffer_updated(len(frame))
        assert await call == {"sub": "s1"}
        assert pushes == [reply]  # a message with more than the reply is also pushed
        push = b'[{"msg":"changed","sub":"s1","doc":{}}]'
        wire.data_received(server_frame(TEXT, push))
        assert pushes == [reply, push]
        # a long message read 1000 bytes at a time into the buffer every connection shares
        stream = server_frame(TEXT, LARGE) + server_frame(TEXT, push)
        for i in range(0, len(stream), 1000):
            piece = stream[i : i + 1000]
            wire.buffer[: len(piece)] = piece
            wire.buffer_updated(len(piece))
            wire.buffer[:1000] = b"\0" * 1000  # the next read (of any connection) overwrites it
        assert pushes == [reply, push, LARGE, push]
        del pushes[2:]

        transport.written.clear()
        wire.data_received(server_frame(CLOSE, (1001).to_bytes(2, "big") + b"going away"))
        assert client_frames(bytes(transport.written)) == [(CLOSE, (1001).to_bytes(2, "big"))]
        assert wire.close_code == 1001
        wire.data_received(server_frame(TEXT, push))  # after close: ignored
        assert pushes == [reply, push]
        wire.connection_lost(None)
        assert wire.closed
        await wire.close()  # nothing more to send
        assert client_frames(bytes(transport.written)) == [(CLOSE, (1001).to_bytes(2, "big"))]

    run(scenario())


def test_wire_client_close_and_failures() -> None:
    async def scenario() -> None:
        wire, transport = opened([])
        wire.data_received(handshake_response(wire))
        closing = asyncio.ensure_future(wire.close())
        await asyncio.sleep(0)
        assert client_frames(bytes(transport.written)) == [(CLOSE, (1000).to_bytes(2, "big"))]
        wire.data_received(server_frame(CLOSE, (1000).to_bytes(2, "big")))
        wire.connection_lost(None)
        await closing
        assert len(client_frames(bytes(transport.written))) == 1  # no second close frame

        wire, transport = opened([])
        wire.data_received(handshake_response(wire, accept=b"wrong"))
        assert transport.aborted and not transport.written
        wire.connection_lost(None)
        assert isinstance(wire.opened.exception(), Exception)

        wire, transport = opened([])
        wire.data_received(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        assert transport.aborted and isinstance(wire.error, ProtocolError)
        wire.connection_lost(None)
        assert wire.opened.exception() is wire.error

        wire, transport = opened([])
        wire.data_received(handshake_response(wire) + bytes((0x81, 0x81)) + b"abcdx")
        assert transport.aborted
        assert client_frames(bytes(transport.written)) == [(CLOSE, (1002).to_bytes(2, "big"))]

    run(scenario())


if __name__ == "__main__":
    tests = [(name, f) for name, f in sorted(globals().items()) if name.startswith("test_")]
    for name, test in tests:
        test()
        print("ok", name)
    print(f"{len(tests)} passed")
