"""The flusher writes a session's frames itself (``Session.direct``) while its writer task is
idle and the socket takes them; otherwise the writer task does, and nothing is lost, repeated
or reordered between the two."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from livejobs import protocol
from livejobs.flusher import Flusher
from livejobs.protocol import Frame
from livejobs.runs import RunView
from livejobs.session import Session


class Socket:
    """A ``Direct`` writer that records what it wrote and can be paused."""

    def __init__(self) -> None:
        self.open = True
        self.written: list[str] = []

    def ready(self) -> bool:
        return self.open

    def write(self, frames: list[Frame | RunView]) -> None:
        self.written.append(protocol.join(frames))


def pushed(n: int) -> str:
    return protocol.encode({"msg": "job", "n": n})


def numbers(messages: list[str]) -> list[int]:
    out: list[int] = []
    for text in messages:
        message: Any = json.loads(text)
        out += [f["n"] for f in (message if isinstance(message, list) else [message])]
    return out


async def writer(session: Session, into: list[str]) -> None:
    """What the edge's writer task does, without a socket."""
    while (frames := await session.take()) is not None:
        into.append(protocol.join(frames))


async def started(session: Session, into: list[str]) -> asyncio.Task[None]:
    task = asyncio.create_task(writer(session, into))
    await asyncio.sleep(0)  # the task waits in take()
    return task


async def test_the_flusher_writes_for_an_idle_writer_and_the_task_stays_asleep():
    session = Session(flusher=Flusher())
    session.batch = True
    session.direct = socket = Socket()
    by_task: list[str] = []
    task = await started(session, by_task)
    for n in range(3):
        session.send_live(pushed(n))
    await asyncio.sleep(0)  # the flush
    assert socket.written == [f"[{pushed(0)},{pushed(1)},{pushed(2)}]"] and by_task == []
    assert session.queued == 0 and session.queued_bytes == 0
    session.close("over")
    await task
    assert by_task == []


async def test_a_client_taking_one_frame_per_message_gets_them_all_in_order():
    session = Session(flusher=Flusher())
    session.direct = socket = Socket()
    task = await started(session, [])
    for n in range(5):
        session.send_live(pushed(n))
    await asyncio.sleep(0)
    assert numbers(socket.written) == [0, 1, 2, 3, 4] and len(socket.written) == 5
    session.close("over")
    await task


async def test_a_paused_socket_leaves_the_rest_to_the_writer_task_in_order():
    session = Session(flusher=Flusher())
    session.direct = socket = Socket()
    by_task: list[str] = []
    task = await started(session, by_task)
    for n in range(2):
        session.send_live(pushed(n))
    await asyncio.sleep(0)
    socket.open = False  # flow control paused it
    for n in range(2, 5):
        session.send_live(pushed(n))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the woken task writes
    assert numbers(socket.written) == [0, 1] and numbers(by_task) == [2, 3, 4]
    session.close("over")
    await task


async def test_a_reply_goes_through_the_writer_task_so_replies_still_batch():
    session = Session(flusher=Flusher())
    session.batch = True
    session.direct = socket = Socket()
    by_task: list[str] = []
    task = await started(session, by_task)
    session.send(pushed(0))
    session.send(pushed(1))
    session.send_live(pushed(2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert socket.written == [] and numbers(by_task) == [0, 1, 2] and len(by_task) == 1
    session.close("over")
    await task


class Broken(Socket):
    def write(self, frames: list[Frame | RunView]) -> None:
        raise RuntimeError("the handler is closed")


async def test_a_failed_write_closes_its_session_and_the_flush_goes_on():
    flusher = Flusher()
    broken, fine = Session(flusher=flusher), Session(flusher=flusher)
    broken.direct, fine.direct = Broken(), Socket()
    tasks = [await started(broken, []), await started(fine, [])]
    broken.send_live(pushed(0))
    fine.send_live(pushed(1))
    await asyncio.sleep(0)
    assert broken.close_reason == "write failed"
    assert isinstance(fine.direct, Socket) and numbers(fine.direct.written) == [1]
    fine.close("over")
    await asyncio.gather(*tasks)
