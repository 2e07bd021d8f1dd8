"""The MongoDB store's claim: it applies ``lifecycle.claim`` (``ClaimRequest.claim``), one
compare-and-set on the version per job, best candidates first.

MongoDB has no multi-document transaction here, so a limited type first reserves its room
(``flow.reserve``, the admission itself decided by ``livejobs.jobs.rules``), the claim spends
it, and the unused places are given back (``flow.settle``). A candidate another server took
between the read and the write is skipped; the next round reads afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure

from livejobs.jobs import rules
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import ClaimRequest
from livejobs.store.mongo import flow
from livejobs.store.mongo.shapes import claim_filter, claim_write, record_key

Collection = AsyncCollection[dict[str, Any]]

CLAIM_SORT = [("priority", 1), ("_rank", 1), ("_id", 1)]  # lifecycle.claim_order
CLAIM_ROUNDS = 5
"""Reads of candidates per claim: each round but the first follows candidates lost to other
servers' claims."""


async def claim(
    jobs: Collection, flows: Collection, records: Collection, request: ClaimRequest
) -> list[Job]:
    """Up to ``request.limit`` jobs claimed; limited types within the room they reserved."""
    reservations: dict[str, flow.Reservation] = {}
    room: dict[str, int] = {}
    found = await rules_of(records, request.rules, request.types)
    for job_type in dict.fromkeys(request.types):
        limit = found.get(job_type)
        if limit is None or not limit.limited:
            continue
        if not rules.must_count(limit):  # paused
            room[job_type] = rules.room(limit, request.limit)
            continue
        held = await flow.reserve(flows, jobs, job_type, limit, request.limit, request.now)
        room[job_type] = 0 if held is None else held.count
        if held is not None:
            reservations[job_type] = held
    try:
        grouped = {t: r for t, r in found.items() if r.grouped and not r.paused}
        return await _claim_within(jobs, request, room, Groups(flows, jobs, request, grouped))
    finally:
        for job_type, held in reservations.items():
            used = held.count - room[job_type]  # _claim_within spends room per job
            await flow.settle(flows, held, used)


async def rules_of(
    records: Collection, kind: str | None, job_types: Sequence[str]
) -> dict[str, TypeRules]:
    if kind is None:
        return {}
    keys = [record_key(kind, job_type) for job_type in job_types]
    found = await records.find({"_id": {"$in": keys}}).to_list()
    return {r["rid"]: TypeRules.from_record(r["doc"]) for r in found}


class Groups:
    """Groups within a type: each candidate with a group reserves one place in its group's
    flow document (``flow.reserve`` with ``rules.for_group``) before its claim, and settles
    it after; a group found full is left out of the next round's read."""

    def __init__(
        self, flows: Collection, jobs: Collection, request: ClaimRequest, found: dict[str, Any]
    ) -> None:
        self.flows, self.jobs, self.request, self.rules = flows, jobs, request, found
        #: (type, group) pairs found full: the next round leaves their jobs out
        self.full: set[tuple[str, str]] = set()

    async def claim(self, stored: dict[str, Any]) -> Job | None:
        limit, group = self.rules.get(stored["type"]), stored.get("group")
        if limit is None or group is None:
            return await _claim_one(self.jobs, self.request, stored)
        held = await flow.reserve(
            self.flows, self.jobs, stored["type"], rules.for_group(limit), 1, self.request.now,
            group=group,
        )  # fmt: skip
        if held is None:
            self.full.add((stored["type"], group))
            return None
        new = None
        try:
            new = await _claim_one(self.jobs, self.request, stored)
        finally:
            await flow.settle(self.flows, held, 0 if new is None else 1)
        return new


async def _claim_within(
    jobs: Collection, request: ClaimRequest, room: dict[str, int], groups: Groups
) -> list[Job]:
    claimed: list[Job] = []
    try:
        for _round in range(CLAIM_ROUNDS):
            types = [t for t in dict.fromkeys(request.types) if room.get(t, 1) > 0]
            wanted = request.limit - len(claimed)
            if not types or wanted <= 0:
                break
            where = claim_filter(request, types)
            if groups.full:
                where["$nor"] = [{"type": t, "group": g} for t, g in sorted(groups.full)]
            found = jobs.find(where, sort=CLAIM_SORT, limit=wanted)
            candidates = await found.to_list()
            if not candidates:
                break
            for stored in candidates:
                if (
                    room.get(stored["type"], 1) <= 0
                    or (stored["type"], stored.get("group")) in groups.full
                ):
                    continue
                new = await groups.claim(stored)
                if new is not None:
                    if new["type"] in room:
                        room[new["type"]] -= 1
                    claimed.append(new)
    except ConnectionFailure:
        if not claimed:
            raise
        # hand out what is already leased rather than strand it until expiry
    return claimed


async def _claim_one(jobs: Collection, request: ClaimRequest, stored: dict[str, Any]) -> Job | None:
    """``stored`` claimed, or None when another claim changed it first."""
    new, where, replacement = claim_write(request, stored)
    result = await jobs.replace_one(where, replacement)
    return new if result.matched_count == 1 else None
