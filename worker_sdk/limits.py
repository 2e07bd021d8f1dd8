"""The server's limits, kept by the SDK: calls per message and its size, and calls in flight.

Calls in flight are kept within the server's limit, so that any number of concurrent calls
succeeds (only slower) instead of the excess failing with ``rate_limited``.

The server says its limit (``max_pending_calls``) in the ``auth`` reply; a server that does not
gets the default of every server so far. A few slots are kept for the calls that keep leases
alive and report work, so that a ``gather`` of thousands of creates on a worker's connection
cannot hold its heartbeats back until its leases run out.
"""

from __future__ import annotations

import asyncio

from livejobs_sdk import names

#: the servers' default ``max_pending_calls`` (a server too old to say its limit has it)
DEFAULT_LIMIT = 1000
#: calls that hold or end leases: they queue behind each other, not behind ordinary calls
LEASE_CALLS = frozenset(names.LEASE_CALLS)


class Slots:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = 0
        self.resize(limit)

    def resize(self, limit: int) -> None:
        """Use ``limit`` from now on (calls holding a slot of the old size keep it)."""
        if limit == self.limit:
            return
        self.limit = limit
        reserve = min(32, limit // 4)
        self._lease = asyncio.Semaphore(reserve) if reserve else None
        self._general = asyncio.Semaphore(limit - reserve)

    def of(self, method: str) -> asyncio.Semaphore:
        """The semaphore a call of ``method`` holds while in flight."""
        if self._lease is not None and method in LEASE_CALLS:
            return self._lease
        return self._general


#: calls per array message, and its size: well within the server's defaults (1,000 calls,
#: 1 MiB); a single call larger than that still goes alone, as it always did
MAX_CALLS_PER_MESSAGE = 500
MAX_MESSAGE_CHARS = 256 * 1024


def chunks(batch: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    chunks: list[list[tuple[int, str]]] = []
    size = 0
    for entry in batch:
        if (
            not chunks
            or len(chunks[-1]) >= MAX_CALLS_PER_MESSAGE
            or (size + len(entry[1]) > MAX_MESSAGE_CHARS)
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += len(entry[1]) + 1
    return chunks
