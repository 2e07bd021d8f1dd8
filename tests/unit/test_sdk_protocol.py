"""The SDK's protocol core without I/O: frames in, messages out, replies matched to their calls
and pushes routed, with no socket and no event loop (plain ``concurrent.futures`` futures)."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from typing import Any

import pytest

from livejobs_sdk import protocol
from livejobs_sdk.errors import CallError, ConnectionLost, UnsupportedVersion
from livejobs_sdk.protocol import Calls


def sent(calls: Calls) -> list[tuple[Any, list[int]]]:
    return [(json.loads(message), ids) for message, ids in calls.messages()]


def test_calls_leave_with_their_ids_one_frame_alone_an_array_together() -> None:
    calls = Calls()
    one = calls.add(protocol.call_tail("jobs.get", {"id": "x"}, {}), Future())
    assert sent(calls) == [
        ({"msg": "call", "id": one, "method": "jobs.get", "params": {"id": "x"}}, [one])
    ]
    ids = [calls.add(protocol.call_tail(m, None, {}), Future()) for m in ("a", "b")]
    [(message, carried)] = sent(calls)
    assert [f["method"] for f in message] == ["a", "b"] and carried == ids
    assert len({one, *ids}) == 3 and calls.messages() == []


def test_each_reply_reaches_its_own_call_and_strays_are_ignored() -> None:
    calls = Calls()
    first, second = Future(), Future()
    a = calls.add(protocol.call_tail("a", None, {}), first)
    b = calls.add(protocol.call_tail("b", None, {}), second)
    error = {"msg": "error", "id": a, "error": {"code": "forbidden", "message": "no"}}
    calls.receive(json.dumps([{"msg": "result", "id": b, "result": 2}, error]))
    calls.receive(json.dumps({"msg": "result", "id": a, "result": "late"}))  # already answered
    calls.receive(json.dumps({"msg": "result", "id": 999, "result": "unknown"}))
    assert second.result() == 2
    with pytest.raises(CallError) as refused:
        first.result()
    assert refused.value.code == "forbidden" and not calls.pending


def test_pushes_go_to_their_handler_by_msg(caplog) -> None:
    calls, got = Calls(), []
    calls.on_push["job"] = got.append
    calls.receive(json.dumps({"msg": "job", "job": {"id": "j"}}))
    calls.receive(json.dumps({"msg": "added", "sub": "s", "doc": {}}))  # nobody listens: dropped
    with caplog.at_level(logging.WARNING, "livejobs.sdk"):
        calls.receive(json.dumps({"msg": "error", "error": {"code": "invalid", "message": "x"}}))
    assert got == [{"msg": "job", "job": {"id": "j"}}]
    assert "server error" in caplog.text


def test_a_lost_connection_fails_every_call_and_sends_none_of_them() -> None:
    calls = Calls()
    waiting = [Future() for _ in range(3)]
    for reply in waiting:
        calls.add(protocol.call_tail("m", None, {}), reply)
    calls.fail_all(lambda: ConnectionLost("lost"))
    assert calls.messages() == [] and not calls.pending
    assert all(isinstance(reply.exception(), ConnectionLost) for reply in waiting)


def test_calls_past_their_deadline_time_out_and_the_others_wait() -> None:
    calls = Calls()
    soon, later = Future(), Future()
    calls.due[calls.add("", soon)] = (10.0, 5.0)
    calls.due[calls.add("", later)] = (20.0, 15.0)
    calls.expire_due(now=10.0)
    assert isinstance(soon.exception(), TimeoutError) and "within 5.0s" in str(soon.exception())
    assert not later.done() and len(calls.due) == 1


def test_creates_carry_a_fresh_request_id_for_a_server_that_knows_them() -> None:
    params = {"type": "t"}
    tails = [protocol.call_tail("jobs.create", params, {"protocol": 1}) for _ in range(2)]
    ids = [json.loads("{" + tail[1:])["params"]["request_id"] for tail in tails]
    assert ids[0] != ids[1] and params == {"type": "t"}
    old_server = json.loads("{" + protocol.call_tail("jobs.create", params, {})[1:])
    assert old_server["params"] == {"type": "t"}
    read = json.loads("{" + protocol.call_tail("jobs.get", {"id": "x"}, {"protocol": 1})[1:])
    assert read["params"] == {"id": "x"}


def test_auth_replies_read_as_identity_refusal_or_an_old_server() -> None:
    assert json.loads(protocol.auth_frame("tok", 1))["params"] == {
        "token": "tok",
        "batch": True,
        "protocol": 1,
    }
    assert "protocol" not in json.loads(protocol.auth_frame(None, None))["params"]
    old = {"msg": "error", "id": 0, "error": {"code": "invalid", "message": "unknown `protocol`"}}
    assert protocol.legacy(old) and not protocol.legacy({"msg": "result", "result": {}})
    version = {"code": "unsupported_version", "message": "this server speaks 2"}
    refusal = protocol.auth_refusal({"msg": "error", "id": 0, "error": version}, 1)
    assert isinstance(refusal, UnsupportedVersion)
    assert protocol.auth_refusal({"msg": "result", "id": 0, "result": {}}, 1) is None
    assert protocol.max_pending({"max_pending_calls": 40}) == 40
    assert protocol.max_pending({"max_pending_calls": 0}) is None
