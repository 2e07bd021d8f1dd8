"""Flow limits in the MongoDB store, without multi-document transactions.

Each limited type has one document in the ``flow`` collection: its recent ``starts`` and the
``pending`` reservations of claims in progress, changed only by compare-and-set on ``seq``. A
claim first reserves room there (counting running jobs, recent starts and others' pending
reservations), then claims at most that many jobs, then settles: its reservation goes and the
starts it did not use are given back. Two servers can never both take the last place: the
loser of the compare-and-set counts again. A server that dies between reserving and settling
holds its places only until the reservation expires.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from livejobs.jobs import rules
from livejobs.jobs.rules import TypeRules

RESERVATION_SECONDS = 30.0
"""How long a claim in progress holds its places (a live claim settles in milliseconds)."""

ATTEMPTS = 20


class Reservation:
    __slots__ = ("job_type", "token", "count", "now")

    def __init__(self, job_type: str, token: str, count: int, now: float) -> None:
        self.job_type, self.token, self.count, self.now = job_type, token, count, now


def _current(
    doc: dict[str, Any] | None, limit: TypeRules, now: float
) -> tuple[list[float], list[dict[str, Any]]]:
    doc = doc or {}
    starts: list[float] = list(doc.get("starts", []))
    since = rules.window_start(limit, now)
    if since is not None:
        starts = [at for at in starts if at > since]
    pending = [p for p in doc.get("pending", []) if p["until"] > now]
    return starts, pending


async def reserve(
    flow: AsyncCollection[dict[str, Any]],
    jobs: AsyncCollection[dict[str, Any]],
    job_type: str,
    limit: TypeRules,
    wanted: int,
    now: float,
    group: str | None = None,
) -> Reservation | None:
    """Reserve up to ``wanted`` places for ``job_type``, or for one ``group`` of it (its flow
    document keyed ``rules.group_key``, ``limit`` then ``rules.for_group``); None when there
    is no room."""
    key = job_type if group is None else rules.group_key(job_type, group)
    running_of = {"status": "running", "type": job_type}
    if group is not None:
        running_of["group"] = group
    for _attempt in range(ATTEMPTS):
        doc = await flow.find_one({"_id": key})
        starts, pending = _current(doc, limit, now)
        held = sum(p["count"] for p in pending)
        running = 0
        if limit.concurrency is not None:
            running = await jobs.count_documents(running_of)
        # reserved starts are in ``starts`` already: ``held`` counts against concurrency only
        room = rules.room(limit, wanted, running=running, recent=len(starts), held=held)
        if room <= 0:
            return None
        token = uuid.uuid4().hex
        if limit.rated:
            starts += [now] * room
        pending.append({"token": token, "count": room, "until": now + RESERVATION_SECONDS})
        if await _swap(flow, key, doc, {"starts": starts, "pending": pending}):
            return Reservation(key, token, room, now)
    return None  # heavy contention: the next claim tries again


async def settle(
    flow: AsyncCollection[dict[str, Any]], reservation: Reservation, used: int
) -> None:
    """Drop the reservation; give back the starts it reserved but did not use."""
    for _attempt in range(ATTEMPTS):
        doc = await flow.find_one({"_id": reservation.job_type})
        if doc is None:
            return
        starts = list(doc.get("starts", []))
        for _ in range(reservation.count - used):
            if reservation.now in starts:
                starts.remove(reservation.now)
        pending = [p for p in doc.get("pending", []) if p["token"] != reservation.token]
        if await _swap(flow, reservation.job_type, doc, {"starts": starts, "pending": pending}):
            return


async def opening(
    flow: AsyncCollection[dict[str, Any]], job_type: str, limit: TypeRules, now: float
) -> float | None:
    at = None
    if limit.rated:
        found = await flow.find_one({"_id": job_type})
        at = rules.opening_of(limit, (found or {}).get("starts", []), now)
    since = rules.group_window_start(limit, now)
    if since is not None:  # the groups' documents sit under their type's key prefix
        low, high = rules.group_key(job_type, ""), rules.group_key(job_type, "\U0010ffff")
        starts = [
            start
            async for doc in flow.find({"_id": {"$gt": low, "$lt": high}})
            for start in doc.get("starts", [])
            if start > since
        ]
        group_at = rules.group_opening(limit, min(starts, default=None))
        at = group_at if at is None or (group_at is not None and group_at < at) else at
    return at


async def _swap(
    flow: AsyncCollection[dict[str, Any]],
    job_type: str,
    seen: dict[str, Any] | None,
    fields: dict[str, Any],
) -> bool:
    """Write ``fields`` if nobody changed the document since ``seen``."""
    if seen is None:
        try:
            await flow.insert_one({"_id": job_type, "seq": 1, **fields})
        except DuplicateKeyError:
            return False
        return True
    result = await flow.update_one(
        {"_id": job_type, "seq": seen["seq"]}, {"$set": {"seq": seen["seq"] + 1, **fields}}
    )
    return result.modified_count == 1
