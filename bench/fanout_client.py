"""The fan-out scenario's subscribers: many WebSocket connections in one process, each
subscribed to ``{}``, except ``--idle`` of them, each subscribed to one of ``IDLE_FILTERS``
job types nobody creates: they hold a connection and a subscription and must receive nothing.

Connections ask for batched messages, as the SDK does. Every connection counts the changes it
receives (a substring count on the raw bytes, no parsing). One in ``--sample-every`` also parses
each message (msgspec, already a livejobs dependency: the whole message is decoded and checked
as JSON, only ``msg`` and ``doc.data.t`` are kept) for the delivery latency of every change in
it (receive time − the producer's ``data.t``), and checks that it finds as many changes as the
substring count did. The receive time is taken in the event loop's read callback, as soon as
a message's last byte is read. Prints ``READY`` once every subscription has its (empty)
snapshot, then stops by itself once each connection has ``--expect`` changes, or ``--window``
seconds after the first change arrived, and writes a JSON report.

The load generator must stay cheaper than the server it loads: these processes share the
machine's cores with the server, so whatever they spend per message shows up as the server's
latency. Hence ``fanout_wire`` (a bare-protocol WebSocket client that hands each message to
``Counter`` from the read callback) instead of the ``websockets`` library, which wakes a task
per message per connection and cost about a core at a thousand subscribers.
"""

# no `from __future__ import annotations`: msgspec reads the Structs' annotations at import, and
# string ones would have to be resolved through sys.modules (which fails under e.g. cProfile)
import argparse
import asyncio
import json
import os
import resource
import time
from pathlib import Path

import msgspec

from fanout_wire import Wire

ADDED, CHANGED, READY = b'{"msg":"added"', b'{"msg":"changed"', b'{"msg":"ready"'
CONNECT_IN_FLIGHT = 50
IDLE_FILTERS = 100
"""Distinct filters among the idle subscribers (each a group of its own on the server)."""
IDLE_CAP_S = 120.0
"""Give up when no change at all arrives this long after READY (the producer never started)."""


class Data(msgspec.Struct):
    t: float


class Doc(msgspec.Struct):
    data: Data


class Frame(msgspec.Struct):
    msg: str
    doc: Doc | None = None


decode = msgspec.json.Decoder(list[Frame] | Frame).decode
"""A batched message is an array of frames; fields other than these are skipped, not kept."""


class Counter:
    """One subscriber's tally, fed each raw message (bytes) by its connection."""

    def __init__(self, timed: bool) -> None:
        self.timed = timed
        self.changes = 0
        self.first: float | None = None
        self.last = 0.0
        self.latency_ms: list[float] = []
        self.ready = asyncio.Event()

    def __call__(self, message: bytes) -> None:
        changes = message.count(ADDED) + message.count(CHANGED)
        if changes:
            self.changes += changes
            self.last = time.time()
            if self.first is None:
                self.first = self.last
            if self.timed:
                frames = decode(message)
                found = 0
                for frame in frames if isinstance(frames, list) else [frames]:
                    if frame.msg in ("added", "changed") and frame.doc is not None:
                        self.latency_ms.append((self.last - frame.doc.data.t) * 1000)
                        found += 1
                if found != changes:  # fails the connection: the run shows it incomplete
                    raise ValueError(f"{changes} changes counted, {found} parsed")
        if not self.ready.is_set() and READY in message:
            self.ready.set()


async def subscriber(
    url: str, token: str, counter: Counter, gate: asyncio.Semaphore, filter: dict[str, str]
) -> Wire:
    async with gate:
        wire = await Wire.open(url, token, on_push=counter, batch=True)
        await wire.call("subscribe", {"filter": filter})
        await asyncio.wait_for(counter.ready.wait(), 60)
        return wire


def _deadline(counters: list[Counter], started: float, window: float) -> float:
    firsts = [c.first for c in counters if c.first is not None]
    return min(firsts) + window if firsts else started + IDLE_CAP_S


def _filter(i: int, active: int) -> dict[str, str]:
    return {} if i < active else {"type": f"fanout-idle-{i % IDLE_FILTERS}"}


async def main(args: argparse.Namespace) -> dict[str, object]:
    active = args.connections - args.idle
    counters = [Counter(i < active and i % args.sample_every == 0) for i in range(args.connections)]
    gate = asyncio.Semaphore(CONNECT_IN_FLIGHT)
    wires = await asyncio.gather(
        *(
            subscriber(args.server, args.token, c, gate, _filter(i, active))
            for i, c in enumerate(counters)
        )
    )
    os.write(1, b"READY\n")
    started = time.time()
    try:
        while time.time() < _deadline(counters, started, args.window):
            if all(c.changes >= args.expect for c in counters[:active]):
                break
            await asyncio.sleep(0.05)
        dropped = sum(1 for w in wires if w.closed)  # the server cut the connection
    finally:
        await asyncio.gather(*(w.close() for w in wires), return_exceptions=True)
    return {
        "counts": [c.changes for c in counters[:active]],
        "idle_counts": [c.changes for c in counters[active:]],
        "latency_ms": [round(x, 3) for c in counters for x in c.latency_ms],
        "last": max(c.last for c in counters),
        "first": min((c.first for c in counters if c.first is not None), default=started),
        "cpu_s": time.process_time(),
        "dropped": dropped,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--connections", type=int, default=500)
    p.add_argument("--idle", type=int, default=0, help="of the connections, how many idle")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--window", type=float, required=True, help="production + drain seconds")
    p.add_argument("--sample-every", type=int, default=10)
    p.add_argument("--out", type=Path, required=True)
    arguments = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a descriptor per connection
    arguments.out.write_text(json.dumps(asyncio.run(main(arguments))))
