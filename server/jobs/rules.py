"""Flow rules per job type and the admission arithmetic every store applies: pure, no I/O.

A store counts (running jobs, starts in the rate window, places others hold) in its own way
and inside its own claim; how many jobs may start from those counts, and when a full rate
window opens again, is decided here once, so SQLite, PostgreSQL and MongoDB admit alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

Job = dict[str, Any]


def rev_of(record: Mapping[str, Any] | None) -> int:
    """A record's revision, which ``Store.swap_record`` compares: 0 for no record, or one
    written without a number there (before revisions)."""
    rev = (record or {}).get("rev")
    return rev if isinstance(rev, int) and not isinstance(rev, bool) else 0


OPTIONAL = (
    "group_concurrency",
    "group_rate_limit",
    "group_rate_per",
    "retry",
    "retain",
    "keep",
    "time_limit",
)
"""The rules a record holds only when they are set."""


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
    #: the same limits per group within the type (a job's ``group``: a tenant, say)
    group_concurrency: int | None = None
    group_rate_limit: int | None = None
    group_rate_per: float | None = None
    #: the retry policy of the type's jobs created without one (no flow rule: claims ignore it)
    retry: dict[str, Any] | None = None
    #: seconds a finished job of the type is kept (None: the server's ``retain_seconds``)
    retain: float | None = None
    #: per finished status, how many of the type's newest jobs in it are kept (``Keeper``)
    keep: dict[str, int] | None = None
    #: the time limit of the type's jobs created without one (no flow rule either)
    time_limit: float | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> TypeRules:
        """The rules of a record; a rule this server does not know (written by a newer one)
        is left out rather than failing every claim of the type."""
        return cls(**{k: v for k, v in (record or {}).items() if k in _FIELDS})

    def to_dict(self, job_type: str) -> dict[str, Any]:
        """The record; the group limits, ``retry``, ``retain``, ``keep`` and ``time_limit``
        only when set (a record of a type without them is unchanged, so an older server still
        reads it)."""
        record: dict[str, Any] = {
            "type": job_type,
            "paused": self.paused,
            "rate_limit": self.rate_limit,
            "rate_per": self.rate_per,
            "concurrency": self.concurrency,
        }
        for name in OPTIONAL:
            if (value := getattr(self, name)) is not None:
                record[name] = value
        return record

    @property
    def stored(self) -> bool:
        """Whether the type has any rule worth a record (flow, a default, a retention)."""
        return self.limited or self.defaults or self.retain is not None or bool(self.keep)

    @property
    def defaults(self) -> bool:
        """Whether the type gives its new jobs a default (``retry``, ``time_limit``)."""
        return self.retry is not None or self.time_limit is not None

    @property
    def rated(self) -> bool:
        return self.rate_limit is not None and self.rate_per is not None

    @property
    def counts_running(self) -> bool:
        """Whether a job leaving ``running`` may make room for another."""
        return self.concurrency is not None or self.group_concurrency is not None

    @property
    def grouped(self) -> bool:
        """Whether the type limits each group of its jobs."""
        return self.group_concurrency is not None or self.group_rated

    @property
    def group_rated(self) -> bool:
        return self.group_rate_limit is not None and self.group_rate_per is not None

    @property
    def counted(self) -> bool:
        """Whether a claim must count starts or running jobs."""
        return self.rated or self.concurrency is not None or self.grouped

    @property
    def limited(self) -> bool:
        return self.paused or self.counted


_FIELDS = frozenset(field.name for field in fields(TypeRules))


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


# -- groups within a type: each group is admitted as a type would be, job by job ------------


def group_key(job_type: str, group: str) -> str:
    """The key a group's starts are kept under, next to its type's (``flow_starts.type``)."""
    return f"{job_type}\x1f{group}"


def for_group(rules: TypeRules) -> TypeRules:
    """A type's group limits as the rules of one group, for a store that admits each group as
    it admits a type (MongoDB's reservations)."""
    return TypeRules(
        concurrency=rules.group_concurrency,
        rate_limit=rules.group_rate_limit,
        rate_per=rules.group_rate_per,
    )


def group_window_start(rules: TypeRules, now: float) -> float | None:
    """``window_start`` for each group's rate window."""
    return None if not rules.group_rated else now - float(rules.group_rate_per or 0)


def group_room(rules: TypeRules, *, running: int = 0, recent: int = 0) -> int:
    """How many more jobs of one group may start (large without group limits)."""
    left = 1 << 30
    if rules.group_concurrency is not None:
        left = min(left, rules.group_concurrency - running)
    if rules.group_rated:
        left = min(left, int(rules.group_rate_limit or 0) - recent)
    return max(left, 0)


def full_groups(
    rules: TypeRules, running: Mapping[str, int], recent: Mapping[str, int]
) -> set[str]:
    """The groups that may start nothing now: a claim leaves their jobs out."""
    return {
        g
        for g in {*running, *recent}
        if group_room(rules, running=running.get(g, 0), recent=recent.get(g, 0)) <= 0
    }


def admit(
    rules: TypeRules | None,
    candidates: Iterable[Job],
    room: int,
    running: Mapping[str, int],
    recent: Mapping[str, int],
    taken: MutableMapping[str, int],
) -> tuple[list[Job], set[str]]:
    """From ready ``candidates`` in claim order, those that may start, at most ``room``: a
    job without a group counts only against its type; one with a group also against its
    group's running jobs, recent starts and the places this claim has ``taken`` (updated).
    Also returns the groups this claim has filled, which the next batch leaves out."""
    admitted: list[Job] = []
    filled: set[str] = set()
    for doc in candidates:
        if len(admitted) >= room:
            break
        group = doc.get("group")
        if rules is None or not rules.grouped or group is None:
            admitted.append(doc)
            continue
        used = running.get(group, 0) + taken.get(group, 0)
        left = group_room(rules, running=used, recent=recent.get(group, 0) + taken.get(group, 0))
        if left <= 0:
            filled.add(group)
            continue
        admitted.append(doc)
        taken[group] = taken.get(group, 0) + 1
        if left == 1:
            filled.add(group)
    return admitted, filled


def group_opening(rules: TypeRules, earliest: float | None) -> float | None:
    """When some group's rate window may have room again: once the earliest start in any
    group's window leaves it (early rather than late: a claim then finds out)."""
    if earliest is None or not rules.group_rated:
        return None
    return float(earliest) + float(rules.group_rate_per or 0)
