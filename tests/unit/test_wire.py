"""Messages framed by the edge (``livejobs.edges.wire``) are, byte for byte, what uvicorn would
have framed from ``protocol.join``'s text: a header, then the same JSON."""

from __future__ import annotations

import json
import struct

import pytest

from livejobs import protocol
from livejobs.edges.wire import header, message
from livejobs.protocol import Frame
from livejobs.runs import Run, RunView


def unframed(frame: bytes) -> str:
    """The text of one final, unmasked text frame, checking its header says its length."""
    assert frame[0] == 0x81
    length, start = frame[1], 2
    if length == 126:
        (length,), start = struct.unpack("!H", frame[2:4]), 4
    elif length == 127:
        (length,), start = struct.unpack("!Q", frame[2:10]), 10
    assert len(frame) == start + length
    return frame[start:].decode()


def run_of(count: int, text: str = "") -> Run:
    run = Run(lambda _: None)
    for n in range(count):
        doc = protocol.encode({"id": f"j{n}", "text": text})
        run.add(*protocol.sub_frame_parts("changed" if n % 2 else "added", doc))
    return run


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_the_header_states_the_length_in_the_shortest_form(length):
    assert unframed(header(length) + b"x" * length) == "x" * length
    assert len(header(length)) == (2 if length < 126 else 4 if length < 65536 else 10)


@pytest.mark.parametrize("count", [1, 2, 3, 40])
@pytest.mark.parametrize("sub", ["s1", "s123456", 's"7'])
def test_a_lone_run_is_the_joined_text(count, sub):
    view = RunView(run_of(count, "é" * 40), protocol.encode(sub))
    text = unframed(message([view]))
    assert text == protocol.join([view])
    frames = json.loads(text if count > 1 else f"[{text}]")
    assert [f["sub"] for f in frames] == [sub] * count


def test_runs_of_any_size_and_plain_frames_mix_as_the_joined_text():
    big = run_of(300, "ü" * 250)  # past 64 KiB: the 8-byte length
    entries: list[list[Frame | RunView]] = [
        [protocol.encode({"msg": "result", "id": 1, "result": None})],
        [protocol.sub_frame("added", '"s1"', protocol.encode({"id": "a"}))],
        [RunView(run_of(2), '"s1"'), '{"msg":"ready","sub":"s2"}', RunView(run_of(1), '"s2"')],
        [RunView(big, '"s3"'), RunView(big, '"s44"')],
        [RunView(big, '"s5"')],
    ]
    for frames in entries:
        text = unframed(message(frames))
        assert text == protocol.join(frames)
        json.loads(text)


def test_members_of_a_run_share_its_encoded_segments():
    run = run_of(5)
    first, _ = run.encoded()
    message([RunView(run, '"s1"')])
    message([RunView(run, '"s2"')])
    assert run.encoded()[0] is first
