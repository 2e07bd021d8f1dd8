"""Flow control per job type: queue pause, rate limits and global concurrency.

The rules live in the store (records of kind ``types``) and in every server's memory, re-read
whenever the change feed shows a server wrote them. The counting does not live here: each claim
hands the type's limits to the store, which counts running jobs and recent starts inside the
claim itself (``server.store.sqlite_flow``, ``server.store.mongo_flow``), so a limit holds
across every server sharing the store, not just within one.

When a claim for a rate-limited type comes back short, the store says when the window will
next have room; one timer (``next_opening``) wakes the dispatcher then — no polling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.store.base import FlowLimit, Store

KIND = "types"


@dataclass(frozen=True, slots=True)
class TypeRules:
    paused: bool = False
    #: at most ``rate_limit`` starts in any ``rate_per`` seconds
    rate_limit: int | None = None
    rate_per: float | None = None
    #: at most this many running in the whole cluster
    concurrency: int | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> TypeRules:
        return cls(**{k: v for k, v in (record or {}).items() if k != "type"})

    @property
    def limited(self) -> bool:
        return self.paused or self.rate_limit is not None or self.concurrency is not None

    @property
    def limit(self) -> FlowLimit | None:
        """What the store must count for this type's claims (None: nothing)."""
        if self.rate_limit is None and self.concurrency is None:
            return None
        return FlowLimit(self.rate_limit, self.rate_per, self.concurrency)

    def to_dict(self, job_type: str) -> dict[str, Any]:
        return {
            "type": job_type,
            "paused": self.paused,
            "rate_limit": self.rate_limit,
            "rate_per": self.rate_per,
            "concurrency": self.concurrency,
        }


class FlowControl:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._rules: dict[str, TypeRules] = {}
        #: per rate-limited type that ran out of room, when its window opens again
        self._openings: dict[str, float] = {}

    async def load(self) -> None:
        for record in await self.store.list_records(KIND):
            self._rules[record["type"]] = TypeRules.from_record(record)

    async def reload(self, job_type: str) -> None:
        """Re-read one type's rules (this server or another one just wrote them)."""
        self._install(job_type, TypeRules.from_record(await self.store.get_record(KIND, job_type)))

    async def set_rules(self, job_type: str, rules: TypeRules) -> dict[str, Any]:
        await self.store.put_record(KIND, job_type, rules.to_dict(job_type))
        self._install(job_type, rules)
        return rules.to_dict(job_type)

    def _install(self, job_type: str, rules: TypeRules) -> None:
        self._openings.pop(job_type, None)
        if rules.limited:
            self._rules[job_type] = rules
        else:
            self._rules.pop(job_type, None)

    def rules(self, job_type: str) -> TypeRules:
        return self._rules.get(job_type) or TypeRules()

    def describe(self) -> list[dict[str, Any]]:
        return [rules.to_dict(t) for t, rules in sorted(self._rules.items())]

    # -- claims ----------------------------------------------------------------------------

    def claimable(self, types: Iterable[str]) -> tuple[list[str], dict[str, FlowLimit]]:
        """The types a claim may take now (paused ones left out) and the limits to count."""
        open_types: list[str] = []
        limits: dict[str, FlowLimit] = {}
        for job_type in types:
            rules = self._rules.get(job_type)
            if rules is None:
                open_types.append(job_type)
            elif not rules.paused:
                open_types.append(job_type)
                if (limit := rules.limit) is not None:
                    limits[job_type] = limit
        return open_types, limits

    async def note_short(self, types: Iterable[str], now: float) -> None:
        """A claim came back short: learn when each full rate window opens again."""
        for job_type in types:
            rules = self._rules.get(job_type)
            limit = rules.limit if rules is not None and not rules.paused else None
            if limit is None or not limit.rated:
                continue
            opening = await self.store.rate_opening(job_type, limit, now)
            if opening is not None and opening > now:
                self._openings[job_type] = opening

    def next_opening(self) -> float | None:
        """The earliest time a full rate window gets room again."""
        return min(self._openings.values(), default=None)

    def opened(self, now: float) -> list[str]:
        """The types whose windows have opened by ``now`` (forgotten from here on)."""
        types = [t for t, at in self._openings.items() if at <= now]
        for job_type in types:
            del self._openings[job_type]
        return types
