"""Flow control per job type: queue pause, rate limits and global concurrency.

The rules live in the store (records of kind ``types``). Claims do not trust a server's memory
of them: the store reads them, counts running jobs and recent starts, and claims, all within the
claim itself (deciding with ``livejobs.jobs.rules``), so a rule holds across
every server sharing the store from the moment it is written. Each server also keeps a copy,
re-read whenever the change feed shows a server wrote the rules, for its timers and wake-ups.

When a claim for a rate-limited type comes back short, the store says when the window will
next have room; one timer (``next_opening``) wakes the dispatcher then — no polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from livejobs.errors import Conflict
from livejobs.jobs.rules import TypeRules, rev_of

__all__ = ["KIND", "FlowControl", "RulesStore", "TypeRules"]

KIND = "types"
#: tries of a change whose record another server changed between its read and its write
SWAP_ATTEMPTS = 8
NO_RULES = TypeRules()
"""A type without rules (asked for on every change of such a type: built once)."""


class RulesStore(Protocol):
    """The part of ``livejobs.store.base.Store`` flow control uses (jobs/ imports no store)."""

    async def put_record(self, kind: str, record_id: str, doc: dict[str, Any]) -> None: ...

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None: ...

    async def list_records(self, kind: str) -> list[dict[str, Any]]: ...

    async def delete_record(self, kind: str, record_id: str) -> bool: ...

    async def swap_record(
        self, kind: str, record_id: str, doc: dict[str, Any], rev: int
    ) -> bool: ...

    async def rate_opening(self, job_type: str, rules: TypeRules, now: float) -> float | None: ...


class FlowControl:
    def __init__(self, store: RulesStore) -> None:
        self.store = store
        self._rules: dict[str, TypeRules] = {}
        #: per type with a retention rule, its seconds (``TypeRules.retain``)
        self._retain: dict[str, float] = {}
        #: per type with a count of finished jobs kept, its counts (``TypeRules.keep``)
        self._keep: dict[str, dict[str, int]] = {}
        #: per rate-limited type that ran out of room, when its window opens again
        self._openings: dict[str, float] = {}
        #: per type changed through this server, the lock its changes take turns on
        self._changing: dict[str, asyncio.Lock] = {}

    async def load(self) -> None:
        for record in await self.store.list_records(KIND):
            self._install(record["type"], TypeRules.from_record(record))

    async def stored(self, job_type: str) -> TypeRules:
        """The type's rules in the store (newer than this server's copy, if another server has
        just written them)."""
        return TypeRules.from_record(await self.store.get_record(KIND, job_type))

    async def reload(self, job_type: str) -> None:
        """Re-read one type's rules (this server or another one just wrote them)."""
        self._install(job_type, await self.stored(job_type))

    async def change(
        self, job_type: str, changes: Mapping[str, Any], rev: int | None = None
    ) -> dict[str, Any]:
        """Set the rules named in ``changes``, keeping the others as stored: a compare-and-set
        on the record's revision, read again when another call or server wrote between, so
        two changes at once never lose one. ``rev``: the revision the caller's own read saw
        (``types.list``, where a type without rules is at 0); a ``Conflict`` if the rules
        moved on since. Returns the record."""
        # this server's changes take turns, so only other servers' can overtake one (a lock
        # per type with rules set here: as many as the type records the store holds anyway)
        async with self._changing.setdefault(job_type, asyncio.Lock()):
            return await self._swap(job_type, changes, rev)

    async def _swap(
        self, job_type: str, changes: Mapping[str, Any], rev: int | None
    ) -> dict[str, Any]:
        for _ in range(SWAP_ATTEMPTS):
            record = await self.store.get_record(KIND, job_type)
            stored, before = rev_of(record), TypeRules.from_record(record)
            listed = stored if before.stored else 0  # types.list leaves it out: no rules
            if rev is not None and rev != listed:
                raise Conflict(
                    f"the rules of type {job_type!r} changed since revision {rev} (now "
                    f"{listed}): read them again (types.list) and retry"
                )
            rules = replace(before, **changes)
            doc = {**rules.to_dict(job_type), "rev": stored + 1}
            if await self.store.swap_record(KIND, job_type, doc, stored):
                self._install(job_type, rules)
                return doc
        raise Conflict(f"the rules of type {job_type!r} kept changing meanwhile; try again")

    async def forget(self, job_type: str) -> None:
        """The type has no rules any more (``types.obliterate``), until some are set again."""
        await self.store.delete_record(KIND, job_type)
        self._install(job_type, NO_RULES)

    def _install(self, job_type: str, rules: TypeRules) -> None:
        self._openings.pop(job_type, None)
        if rules.retain is not None:
            self._retain[job_type] = rules.retain
        else:
            self._retain.pop(job_type, None)
        if rules.keep:
            self._keep[job_type] = rules.keep
        else:
            self._keep.pop(job_type, None)
        if rules.limited or rules.defaults:
            self._rules[job_type] = rules
        else:
            self._rules.pop(job_type, None)

    def retain_of(self, job_type: str) -> float | None:
        """The type's retention rule, if it has one."""
        return self._retain.get(job_type)

    def keep_of(self, job_type: str) -> dict[str, int] | None:
        """Per finished status, how many of the type's jobs are kept, if the type says."""
        return self._keep.get(job_type)

    def kept_types(self) -> list[str]:
        """The types that keep a count of their finished jobs."""
        return list(self._keep)

    def rules(self, job_type: str) -> TypeRules:
        return self._rules.get(job_type) or NO_RULES

    async def describe(self) -> list[dict[str, Any]]:
        """Every type with rules, as stored (another server may have just changed them)."""
        records = await self.store.list_records(KIND)
        rules = [(r["type"], TypeRules.from_record(r), rev_of(r)) for r in records]
        return [{**r.to_dict(t), "rev": rev} for t, r, rev in rules if r.stored]

    # -- the rate timer --------------------------------------------------------------------

    async def note_short(self, types: Iterable[str], now: float) -> None:
        """A claim came back short: learn when each full rate window opens again."""
        for job_type in types:
            rules = self._rules.get(job_type)
            if rules is None or rules.paused or not (rules.rated or rules.group_rated):
                continue
            opening = await self.store.rate_opening(job_type, rules, now)
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
