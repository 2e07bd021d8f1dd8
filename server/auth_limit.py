"""Failed authentications back off per client address, so tokens cannot be guessed fast.

An address gets ``free`` failures; each failure from then on refuses every attempt from it
(right tokens too: a block that a lucky guess could pass would not slow guessing) for twice as
long as the last time, from ``base`` seconds up to ``most``. An address that stays quiet for
``most`` seconds after its last block is forgotten. Both edges share one limiter: WebSocket
``auth`` calls and HTTP bearer tokens. The WebSocket edge also closes a connection after a few
failures of its own (``ws``), so one socket cannot queue a thousand guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from livejobs.clock import Clock
from livejobs.errors import RateLimited

#: addresses remembered at most; past this the stalest are forgotten first
MAX_ADDRESSES = 10_000


@dataclass(slots=True)
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    #: the moment from which quiet counts: the last failure or the end of its back-off
    quiet_from: float = 0.0


class AuthLimiter:
    def __init__(self, clock: Clock, free: int, base: float, most: float) -> None:
        self.clock = clock
        self.free = free
        self.base = base
        self.most = most
        self._by_address: dict[str, _Failures] = {}

    def check(self, address: str) -> None:
        """Refuse with ``rate_limited`` while ``address`` is backing off."""
        entry = self._by_address.get(address)
        if entry is None:
            return
        wait = entry.blocked_until - self.clock.now()
        if wait > 0:
            raise RateLimited(
                f"too many failed authentications from this address; retry in {math.ceil(wait)} s"
            )

    def failed(self, address: str) -> None:
        now = self.clock.now()
        entry = self._by_address.pop(address, None)  # re-inserted last: the freshest
        if entry is None or now > entry.quiet_from + self.most:
            entry = _Failures()
            self._prune(now)
        entry.count += 1
        beyond = entry.count - self.free
        if beyond >= 0:
            entry.blocked_until = now + min(self.base * 2.0 ** min(beyond, 64), self.most)
        entry.quiet_from = max(now, entry.blocked_until)
        self._by_address[address] = entry

    def _prune(self, now: float) -> None:
        """Keep the table bounded: drop forgotten addresses, then the stalest."""
        if len(self._by_address) < MAX_ADDRESSES:
            return
        for address, entry in list(self._by_address.items()):
            if now > entry.quiet_from + self.most:
                del self._by_address[address]
        while len(self._by_address) >= MAX_ADDRESSES:
            del self._by_address[next(iter(self._by_address))]
