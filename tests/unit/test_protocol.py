"""The sans-I/O protocol: frames in, calls or errors out; frames encoded once."""

from __future__ import annotations

import json

import pytest

from livejobs import protocol
from livejobs.errors import Invalid, TooLarge


def test_a_call_frame_decodes():
    call = protocol.decode_call(
        '{"msg":"call","id":7,"method":"jobs.get","params":{"id":"x"}}', 1000
    )
    assert (call.id, call.method, call.params) == (7, "jobs.get", {"id": "x"})


@pytest.mark.parametrize(
    "frame",
    [
        "nope",
        "[]",
        "1",
        '{"msg":"cast"}',
        '{"msg":"call","method":"m"}',
        '{"msg":"call","id":true,"method":"m"}',
        '{"msg":"call","id":1}',
        '{"msg":"call","id":1,"method":' + '"' + "m" * 200 + '"}',
        '{"msg":"call","id":1,"method":"m","params":' + "[" * 40 + "]" * 40 + "}",
    ],
)
def test_bad_frames_are_invalid(frame):
    with pytest.raises(Invalid):
        protocol.decode_call(frame, 10_000)


def test_oversized_frames_are_too_large():
    with pytest.raises(TooLarge):
        protocol.decode_call("x" * 101, 100)


def test_an_array_message_is_several_frames_checked_one_by_one():
    frames = protocol.decode_message(
        '[{"msg":"call","id":1,"method":"a"},{"msg":"call","id":2},{"msg":"call","id":3,"method":"b"}]',
        10_000,
    )
    assert len(frames) == 3
    assert protocol.to_call(frames[0]).method == "a"
    with pytest.raises(Invalid):
        protocol.to_call(frames[1])
    assert protocol.id_in(frames[1]) == 2
    assert protocol.decode_message('{"msg":"call","id":1,"method":"a"}', 1000)[0]["id"] == 1


@pytest.mark.parametrize("message", ["[]", "[" + ",".join(["{}"] * 1001) + "]", "[1,"])
def test_bad_array_messages_are_invalid(message):
    with pytest.raises(Invalid):
        protocol.decode_message(message, 100_000)


def test_call_id_is_recovered_for_errors_when_possible():
    assert protocol.call_id_of('{"msg":"call","id":"a1","method":5}') == "a1"
    assert protocol.call_id_of("garbage") is None


def test_subscription_frames_share_one_encoded_document():
    doc = protocol.encode({"id": "j1", "data": "ü"})
    frame = protocol.sub_frame("changed", protocol.encode("s1"), doc)
    assert frame[2].endswith(doc + "}")  # the encoded document itself, not a copy per subscriber
    assert json.loads(protocol.join([frame])) == {
        "msg": "changed",
        "sub": "s1",
        "doc": {"id": "j1", "data": "ü"},
    }
    head, tail = protocol.sub_removed_parts('"j1"')
    assert json.loads(protocol.join([(head, '"s1"', tail)])) == {
        "msg": "removed",
        "sub": "s1",
        "id": "j1",
    }
    assert json.loads(protocol.sub_marker("ready", '"s1"')) == {"msg": "ready", "sub": "s1"}


def test_several_frames_join_into_one_array():
    frames = [
        protocol.sub_marker("ready", '"s1"'),
        protocol.sub_frame("added", '"s1"', '{"id":"a"}'),
    ]
    assert json.loads(protocol.join(frames)) == [
        {"msg": "ready", "sub": "s1"},
        {"msg": "added", "sub": "s1", "doc": {"id": "a"}},
    ]


def nested(levels: int, leaf: object) -> object:
    """``levels`` containers, dicts and lists by turns, around ``leaf``."""
    value = leaf
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


def test_params_may_nest_to_the_limit_and_no_deeper():
    assert not protocol.too_deep(nested(protocol.MAX_DEPTH, 1))
    assert protocol.too_deep(nested(protocol.MAX_DEPTH + 1, 1))
    assert not protocol.too_deep(nested(protocol.MAX_DEPTH, {}))  # an empty leaf holds nothing
    assert protocol.too_deep(nested(protocol.MAX_DEPTH, [1]))
    assert not protocol.too_deep({"id": "x", "lease": "y", "result": None})
    frame = {"msg": "call", "id": 1, "method": "m", "params": nested(protocol.MAX_DEPTH + 1, 1)}
    with pytest.raises(Invalid, match="nested deeper"):
        protocol.to_call(frame)
