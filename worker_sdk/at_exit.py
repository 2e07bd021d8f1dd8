"""Background ``SyncWorker``s hand their running jobs back at interpreter exit.

At exit Python first joins the threads of every ``ThreadPoolExecutor`` (where a sync handler
runs), and only then runs ``atexit`` hooks such as the one closing a ``SyncClient``. A handler
waiting to be told to stop (``job.cancelled``) would keep the process alive for ever, and a
handler that returns in its own time has its job lost with the connection (an attempt counted)
instead of handed back. So the workers are stopped in a hook that runs before that join.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # registers its join first: hooks run newest first
import os
import threading
from typing import Any, Protocol


class HandsBack(Protocol):
    def hand_back(self) -> None: ...


#: the workers running in the background (often referenced by nobody else)
_started: set[HandsBack] = set()


def hand_back(worker: HandsBack, running: concurrent.futures.Future[Any]) -> None:
    """Have ``worker`` hand its jobs back at interpreter exit, unless ``running`` (its run)
    has ended by then."""
    _started.add(worker)
    running.add_done_callback(lambda _: _started.discard(worker))


def _hand_back_all() -> None:
    for worker in list(_started):
        worker.hand_back()


assert concurrent.futures.thread  # imported for its side effect only
# CPython's hook that runs before the pools' threads are joined; an interpreter without it
# gets the ordinary atexit hook, which runs after (a handler that returns still hands back)
getattr(threading, "_register_atexit", atexit.register)(_hand_back_all)
os.register_at_fork(after_in_child=_started.clear)  # the parent's workers are not the child's
