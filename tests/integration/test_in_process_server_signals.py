"""The suite's in-process servers leave the process's signal handlers alone.

uvicorn's own server takes SIGINT and SIGTERM while it runs and hands back, when it stops, the
handlers it found. Two servers stopped in the order they started then left Ctrl-C bound to a
stopped server (the suite no longer stopped on Ctrl-C), and a suite started as a background
job got its ignored SIGINT back for the apps its tests start.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.servers import InProcessServer

HANDLED = (signal.SIGINT, signal.SIGTERM)


async def test_servers_stopped_out_of_order_leave_the_signal_handlers_as_they_were(
    tmp_path: Path,
) -> None:
    before = {sig: signal.getsignal(sig) for sig in HANDLED}
    first, second = InProcessServer(tmp_path / "a.db"), InProcessServer(tmp_path / "b.db")
    await first.start()
    try:
        await second.start()
        try:
            assert {sig: signal.getsignal(sig) for sig in HANDLED} == before
        finally:
            await first.stop()
    finally:
        await second.stop()
    assert {sig: signal.getsignal(sig) for sig in HANDLED} == before
