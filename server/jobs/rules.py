"""Flow rules per job type and the admission arithmetic every store applies: pure, no I/O.

A store counts (running jobs, starts in the rate window, places others hold) in its own way
and inside its own claim; how many jobs may start from those counts, and when a full rate
window opens again, is decided here once, so SQLite, PostgreSQL and MongoDB admit alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TypeRules:
    """A job type's flow rules, kept as a record (kind ``ClaimRequest.rules``, id the type).
    The store reads them inside each claim, so a rule written through any server binds the
    very next claim on every server: while ``paused`` nothing starts; at most ``rate_limit``
    starts in any ``rate_per`` seconds; at most ``concurrency`` running in the whole cluster."""

    paused: bool = False
    rate_limit: int | None = None
    rate_per: float | None = None
    concurrency: int | None = None
    #: the retry policy of the type's jobs created without one (no flow rule: claims ignore it)
    retry: dict[str, Any] | None = None
    #: seconds a finished job of the type is kept (None: the server's ``retain_seconds``)
    retain: float | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> TypeRules:
        return cls(**{k: v for k, v in (record or {}).items() if k != "type"})

    def to_dict(self, job_type: str) -> dict[str, Any]:
        """The record; ``retry`` and ``retain`` only when set (a record of a type without them
        is unchanged, so an older server still reads it)."""
        record: dict[str, Any] = {
            "type": job_type,
            "paused": self.paused,
            "rate_limit": self.rate_limit,
            "rate_per": self.rate_per,
            "concurrency": self.concurrency,
        }
        if self.retry is not None:
            record["retry"] = self.retry
        if self.retain is not None:
            record["retain"] = self.retain
        return record

    @property
    def stored(self) -> bool:
        """Whether the type has any rule worth a record (flow, a default retry, a retain)."""
        return self.limited or self.retry is not None or self.retain is not None

    @property
    def rated(self) -> bool:
        return self.rate_limit is not None and self.rate_per is not None

    @property
    def counted(self) -> bool:
        """Whether a claim must count starts or running jobs."""
        return self.rated or self.concurrency is not None

    @property
    def limited(self) -> bool:
        return self.paused or self.counted


def room(
    rules: TypeRules | None, wanted: int, *, running: int = 0, recent: int = 0, held: int = 0
) -> int:
    """How many jobs of a type may start now, at most ``wanted``: ``running`` jobs of the type,
    ``recent`` starts in its rate window (``window_start``) and places ``held`` by other claims
    in progress count against its rules. No rules: all of ``wanted``."""
    if rules is None:
        return max(wanted, 0)
    if rules.paused:
        return 0
    if rules.concurrency is not None:
        wanted = min(wanted, rules.concurrency - running - held)
    if rules.rate_limit is not None and rules.rate_per is not None:
        wanted = min(wanted, rules.rate_limit - recent)
    return max(wanted, 0)


def must_count(rules: TypeRules | None) -> bool:
    """Whether ``room`` needs the store's counts (no rules, or paused: it does not)."""
    return rules is not None and rules.counted and not rules.paused


def window_start(rules: TypeRules, now: float) -> float | None:
    """Starts after this time are in the rate window (those at or before it have left it);
    None without a rate."""
    if rules.rate_limit is None or rules.rate_per is None:
        return None
    return now - rules.rate_per


def deciding_start(rules: TypeRules) -> int | None:
    """Which start, counted from the latest (0), must leave the window before it has room:
    the ``rate_limit``-th latest; None without a rate."""
    if rules.rate_limit is None or rules.rate_per is None:
        return None
    return max(rules.rate_limit - 1, 0)


def opening(rules: TypeRules, deciding: float | None) -> float | None:
    """When a full rate window has room again: once its deciding start (``deciding_start``,
    None when the window holds fewer starts) leaves it. None: room now, or no rate."""
    if deciding is None or rules.rate_per is None:
        return None
    return float(deciding) + rules.rate_per


def opening_of(rules: TypeRules, starts: Sequence[float], now: float) -> float | None:
    """``opening`` for a store that keeps a type's starts as one list."""
    since, nth = window_start(rules, now), deciding_start(rules)
    if since is None or nth is None:
        return None
    recent = sorted((at for at in starts if at > since), reverse=True)
    return opening(rules, recent[nth] if nth < len(recent) else None)
