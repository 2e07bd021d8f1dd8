"""Flow control per job type: queue pause, rate limits and global concurrency.

Every claim asks ``reserve`` how many jobs of each limited type may start now and gets that
many reserved at once (synchronously, so concurrent claims in this process can never overshoot);
``settle`` keeps what the claim used and gives the rest back. Rate limits are sliding windows of
start times; concurrency counts the type's running jobs, kept current from the change feed.

When a rate-limited type runs out of room, one timer (``next_opening``) tells the dispatcher
when the window will allow the next start — no polling.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.jobs.model import Job, Status
from server.store.base import Change, Store

KIND = "types"


@dataclass(slots=True)
class TypeRules:
    paused: bool = False
    #: at most ``rate_limit`` starts in any ``rate_per`` seconds
    rate_limit: int | None = None
    rate_per: float | None = None
    #: at most this many running in the whole cluster
    concurrency: int | None = None

    @property
    def limited(self) -> bool:
        return self.paused or self.rate_limit is not None or self.concurrency is not None

    def to_dict(self, job_type: str) -> dict[str, Any]:
        return {
            "type": job_type,
            "paused": self.paused,
            "rate_limit": self.rate_limit,
            "rate_per": self.rate_per,
            "concurrency": self.concurrency,
        }


@dataclass(slots=True)
class TypeState:
    rules: TypeRules
    starts: deque[float] = field(default_factory=deque)
    running: set[str] = field(default_factory=set)
    reserved: int = 0


class FlowControl:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._types: dict[str, TypeState] = {}

    async def load(self, now: float) -> None:
        for record in await self.store.list_records(KIND):
            rules = TypeRules(**{k: v for k, v in record.items() if k != "type"})
            await self._install(record["type"], rules, now)

    async def _install(self, job_type: str, rules: TypeRules, now: float) -> None:
        state = TypeState(rules)
        if rules.concurrency is not None:
            running = await self.store.find({"type": job_type, "status": Status.RUNNING.value})
            state.running = {doc["id"] for doc in running}
        if rules.rate_limit is not None and rules.rate_per is not None:
            recent = await self.store.find(
                {"type": job_type, "started": {"$gte": now - rules.rate_per}},
                limit=rules.rate_limit,
            )
            state.starts = deque(sorted(doc["started"] for doc in recent))
        self._types[job_type] = state

    async def reload(self, job_type: str) -> None:
        """Re-read one type's rules (another server, or this one, just wrote them)."""
        record = await self.store.get_record(KIND, job_type)
        rules = TypeRules(**{k: v for k, v in (record or {}).items() if k != "type"})
        await self._install(job_type, rules, 0.0)

    async def set_rules(self, job_type: str, rules: TypeRules, now: float) -> dict[str, Any]:
        await self.store.put_record(KIND, job_type, rules.to_dict(job_type))
        await self._install(job_type, rules, now)
        return rules.to_dict(job_type)

    def rules(self, job_type: str) -> TypeRules:
        state = self._types.get(job_type)
        return state.rules if state else TypeRules()

    def describe(self) -> list[dict[str, Any]]:
        return [s.rules.to_dict(t) for t, s in sorted(self._types.items()) if s.rules.limited]

    # -- claims ----------------------------------------------------------------------------

    def reserve(self, types: Iterable[str], wanted: int, now: float) -> dict[str, int]:
        """Per limited type, how many may start now (reserved until ``settle``)."""
        granted: dict[str, int] = {}
        for job_type in types:
            state = self._types.get(job_type)
            if state is None or not state.rules.limited:
                continue
            room = self._room(state, now)
            take = max(0, min(wanted, room))
            state.reserved += take
            granted[job_type] = take
        return granted

    def settle(self, granted: dict[str, int], claimed: list[Job], now: float) -> None:
        used: dict[str, int] = {}
        for job in claimed:
            state = self._types.get(job["type"])
            if state is None:
                continue
            used[job["type"]] = used.get(job["type"], 0) + 1
            if state.rules.rate_limit is not None:
                state.starts.append(now)
            if state.rules.concurrency is not None:
                state.running.add(job["id"])
        for job_type, take in granted.items():
            state = self._types.get(job_type)
            if state is not None:
                state.reserved = max(0, state.reserved - take)

    def _room(self, state: TypeState, now: float) -> int:
        rules = state.rules
        if rules.paused:
            return 0
        room = 1 << 30
        if rules.rate_limit is not None and rules.rate_per is not None:
            while state.starts and state.starts[0] <= now - rules.rate_per:
                state.starts.popleft()
            room = min(room, rules.rate_limit - len(state.starts) - state.reserved)
        if rules.concurrency is not None:
            room = min(room, rules.concurrency - len(state.running) - state.reserved)
        return room

    def next_opening(self, now: float) -> float | None:
        """The earliest time a rate-limited type, full now, gets room again."""
        soonest: float | None = None
        for state in self._types.values():
            rules = state.rules
            if rules.paused or rules.rate_limit is None or rules.rate_per is None:
                continue
            if state.starts and self._room(state, now) <= 0:
                opening = state.starts[0] + rules.rate_per
                soonest = opening if soonest is None else min(soonest, opening)
        return soonest

    def blocked_types(self) -> list[str]:
        return [t for t, s in self._types.items() if s.rules.limited]

    # -- the change feed -------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Keep running counts exact whichever call or server moved the job."""
        if not self._types:
            return
        doc = change.doc
        if doc is None:
            for state in self._types.values():
                state.running.discard(change.id)
            return
        held = self._types.get(doc["type"])
        if held is None or held.rules.concurrency is None:
            return
        state = held
        if doc["status"] == Status.RUNNING:
            state.running.add(doc["id"])
        else:
            state.running.discard(doc["id"])
