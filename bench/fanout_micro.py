"""The fan-out path alone: server CPU per delivered change with the batching held fixed.

    <tree>/.venv/bin/python bench/fanout_micro.py --subscribers 1000 --batch 12 --rounds 100

In the fan-out scenario the server's CPU per delivered change depends on how far behind it is:
a server starved of CPU (the host is shared) writes fewer, larger messages, each costing about
the same, so its cost per change falls. Here the server runs in this process (uvicorn with the
tree's own options, uvloop), the subscribers in a child process (``fanout_wire``), and changes
go straight into the server's subscriptions, ``--batch`` per round, one round every 60 ms
(one message per subscriber per round): what is measured is this process's CPU time per
delivered change. Run it with each tree's interpreter, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
LOG = [{"time": 1.7e9, "level": "info", "message": "created", "data": None, "by": "admin"}]
DOC: dict[str, Any] = {  # a job as the fan-out scenario's producer makes them, 770 bytes
    **dict.fromkeys(["private", "repeat", "key", "unique_for", "expire_at", "target"]),
    **dict.fromkeys(["retain", "debounce", "trace", "time_limit", "group", "result", "lease"]),
    **dict.fromkeys(["worker", "reason", "started", "finished", "due"]),
    "type": "fanout",
    "data": {"t": 1.7e9, "k": 1},
    "status": "ready",
    "priority": 0,
    "retry": {"retries": 0, "wait": 0.0, "backoff": "constant", "max_wait": None},
    "attempts": 0,
    "after": 1.7e9,
    "depends": [],
    "dependants": [],
    "results": {},
    "lifo": False,
    "exclude": [],
    "log": LOG,
    "progress": {"completed": 0, "total": 0, "percent": 0.0},
    "failures": [],
    "owner": "admin",
    "created": 1.7e9,
    "updated": 1.7e9,
    "version": 1,
}


async def clients(url: str, token: str, count: int) -> None:
    """The child: ``count`` subscribers on ``{}``; READY, then on a line from stdin, the
    fewest changes one of them received."""
    sys.path.insert(0, str(BENCH))
    from fanout_wire import Wire

    counts = [0] * count
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> Wire:
        def on_push(message: bytes) -> None:
            counts[i] += message.count(b'"msg":"added"')

        async with gate:
            wire = await Wire.open(url, token, on_push=on_push, batch=True)
            await wire.call("subscribe", {"filter": {}})
            return wire

    wires = await asyncio.gather(*(one(i) for i in range(count)))
    os.write(1, b"READY\n")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.sleep(1)
    os.write(1, f"{min(counts)}\n".encode())
    await asyncio.gather(*(w.close() for w in wires), return_exceptions=True)


async def server(args: argparse.Namespace) -> None:
    import uvicorn

    from livejobs.app import create_app
    from livejobs.settings import Settings
    from livejobs.state import state_of
    from livejobs.store.base import Change

    tmp = tempfile.mkdtemp(prefix="fanout-micro-")
    port = 19000 + os.getpid() % 1000
    settings = Settings(db=f"{tmp}/jobs.db", port=port, admin_token="micro-" + "x" * 24)
    options: dict[str, Any] = {"ws_per_message_deflate": False}  # a tree before edges/wire.py
    try:
        from livejobs.edges.wire import uvicorn_options

        options = uvicorn_options(settings)
    except ImportError:
        pass
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    serving = uvicorn.Server(config)
    task = asyncio.create_task(serving.serve())
    while not serving.started:
        await asyncio.sleep(0.05)
    argv = [
        sys.executable,
        __file__,
        "--clients",
        f"ws://127.0.0.1:{port}/ws",
        settings.admin_token,
    ]
    child = await asyncio.create_subprocess_exec(
        *argv, str(args.subscribers), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None
    assert (await child.stdout.readline()).strip() == b"READY"
    subscriptions = state_of(app).services.subscriptions
    await asyncio.sleep(0.5)
    made = 0
    cpu = time.process_time()
    for _ in range(args.rounds):
        for _ in range(args.batch):
            made += 1
            subscriptions.on_change(Change("insert", f"j{made}", {**DOC, "id": f"j{made}"}))
        await asyncio.sleep(0.06)
    cpu = time.process_time() - cpu
    child.stdin.write(b"\n")
    fewest = int(await child.stdout.readline())
    await child.wait()
    serving.should_exit = True
    await task
    per = 1e6 * cpu / (made * args.subscribers)
    print(f"{per:.3f} us CPU per delivered change; the fewest one subscriber got: {fewest}/{made}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--batch", type=int, default=12, help="changes per round (per message)")
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--clients", nargs=3, metavar=("URL", "TOKEN", "COUNT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    import uvloop

    if args.clients:
        url, token, count = args.clients
        uvloop.run(clients(url, token, int(count)))
    else:
        uvloop.run(server(args))


if __name__ == "__main__":
    main()
