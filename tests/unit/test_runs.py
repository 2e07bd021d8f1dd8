"""Shared runs of subscription frames: what each member's writer sends, and how a run counts
toward a session's slow-client cap."""

from __future__ import annotations

import asyncio
import json

import pytest

from livejobs import protocol, runs
from livejobs.flusher import Flusher
from livejobs.runs import Run, RunView
from livejobs.session import MAX_OUTBOX, SLOW, Session


def frame_parts(n: int) -> tuple[str, str]:
    return protocol.sub_frame_parts("added", protocol.encode({"id": f"j{n}", "n": n}))


def filled(count: int, sealed: list[Run] | None = None) -> Run:
    run = Run(sealed.append if sealed is not None else lambda _: None)
    for n in range(count):
        run.add(*frame_parts(n))
    return run


@pytest.mark.parametrize("count", [1, 2, 3, 17])
def test_a_run_renders_each_members_frames_with_its_own_sub_id(count):
    run = filled(count)
    for sub in ("s1", 's"2'):
        rendered = json.loads(f"[{run.render(protocol.encode(sub))}]")
        assert rendered == [
            {"msg": "added", "sub": sub, "doc": {"id": f"j{n}", "n": n}} for n in range(count)
        ]
        one_by_one = [json.loads(f) for f in run.frames(protocol.encode(sub))]
        assert one_by_one == rendered


def test_a_run_is_sealed_once_and_then_takes_no_more_frames():
    sealed: list[Run] = []
    run = filled(2, sealed)
    assert not run.sealed and sealed == []
    run.render('"s1"')
    run.seal()
    assert run.sealed and sealed == [run]
    with pytest.raises(AssertionError):
        run.add(*frame_parts(3))


def test_a_full_run_seals_itself():
    sealed: list[Run] = []
    run = filled(runs.MAX_RUN, sealed)
    assert run.sealed and sealed == [run] and len(run) == runs.MAX_RUN


def test_joined_messages_hold_runs_beside_plain_frames():
    run = filled(2)
    view = RunView(run, '"s9"')
    alone = json.loads(protocol.join([view]))
    assert [f["doc"]["n"] for f in alone] == [0, 1]
    single = json.loads(protocol.join([RunView(filled(1), '"s9"')]))
    assert single["sub"] == "s9"  # one frame is sent bare, as a plain frame would be
    mixed = json.loads(protocol.join(['{"msg":"ready","sub":"s1"}', view]))
    assert [f["msg"] for f in mixed] == ["ready", "added", "added"]


async def session_with_run(batch: bool, frames: int) -> tuple[Session, Run]:
    flusher = Flusher()
    session = Session(flusher=flusher)
    session.batch = batch
    run = Run(lambda run: session.add_frames(len(run), run.size(len('"s1"'))))
    flusher.seal_later(run)
    session.send_live('{"msg":"ready","sub":"s1"}')
    session.send_run(RunView(run, '"s1"'))
    for n in range(frames):
        run.add(*frame_parts(n))
    session.send_live('{"msg":"result","id":1,"result":true}')
    return session, run


async def test_a_batching_session_takes_a_run_whole_once_it_is_sealed():
    session, run = await session_with_run(batch=True, frames=3)
    assert session.queued == 2  # the open run is not counted yet
    first = await session.take()  # up to the run, which is still gathering changes
    assert first is not None and [json.loads(protocol.join(first))["msg"]] == ["ready"]
    rest = await asyncio.wait_for(session.take(), 5)  # the flush seals the run, wakes the writer
    assert rest is not None and run.sealed
    assert [f["msg"] for f in json.loads(protocol.join(rest))] == [
        "added",
        "added",
        "added",
        "result",
    ]
    assert session.queued == 0


async def test_a_session_of_single_frames_gets_a_run_frame_by_frame_in_order():
    session, _ = await session_with_run(batch=False, frames=2)
    messages = []
    while session.queued or not messages:
        taken = await session.take()
        assert taken is not None and len(taken) == 1
        messages.append(json.loads(protocol.join(taken)))
    assert [m["msg"] for m in messages] == ["ready", "added", "added", "result"]
    assert [m["doc"]["n"] for m in messages if m["msg"] == "added"] == [0, 1]


async def test_a_sealed_run_that_overflows_the_cap_cuts_the_slow_client_off():
    session = Session(flusher=Flusher())
    session.batch = True
    for _ in range(MAX_OUTBOX - 10):
        session.send_live('{"msg":"ready","sub":"s1"}')
    run = Run(lambda run: session.add_frames(len(run), run.size(len('"s1"'))))
    session.send_run(RunView(run, '"s1"'))
    for n in range(11):
        run.add(*frame_parts(n))
    assert session.open  # the frames of an open run are not counted yet
    run.seal()
    assert not session.open and session.close_reason == SLOW
    assert await session.take() is None


async def test_the_outbox_is_capped_in_bytes_and_counts_back_down_as_it_is_taken():
    session = Session(flusher=Flusher(), max_bytes=1000)
    session.batch = True
    session.send("x" * 5000)  # one frame alone always goes, however large
    assert session.open and session.queued_bytes == 5000
    assert await session.take() == ["x" * 5000] and session.queued_bytes == 0
    run = Run(lambda run: session.add_frames(len(run), run.size(len('"s1"'))))
    session.send_run(RunView(run, '"s1"'))
    for n in range(3):
        run.add(*frame_parts(n))
    run.seal()
    rendered = protocol.join([RunView(run, '"s1"')])
    assert session.queued_bytes == len(rendered) - 2 - 2  # less the brackets and commas
    session.send(("a" * 100, "b" * 100))
    assert session.queued_bytes == len(rendered) - 4 + 200
    await session.take()
    assert session.queued_bytes == 0 and session.queued == 0
    session.send("y" * 600)
    session.send("z" * 600)  # 1200 > 1000 waiting: cut
    assert not session.open and session.close_reason.startswith("too slow: over 1000 bytes")
    assert await session.take() is None  # what it had queued is dropped
