"""The MongoDB store's history rollups (``Store.add_rollups``): one document per
(resolution, start, type) in ``<queue>.rollups``, its counts under ``c``, added with ``$inc``
in an upsert, so concurrent servers never lose each other's counts (as the SQL stores' merge)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure

from livejobs.errors import Unavailable
from livejobs.store.base import Rollup


def collection_name(queue: str) -> str:
    return f"{queue}.rollups"


def key(resolution: str, start: float, job_type: str) -> str:
    return f"{resolution}|{start!r}|{job_type}"


def updates(rows: Sequence[Rollup]) -> list[UpdateOne]:
    """One upsert per row, in key order; count names hold no ``.`` or ``$``."""
    ordered = sorted(rows, key=lambda r: (r.resolution, r.start, r.type))
    return [
        UpdateOne(
            {"_id": key(r.resolution, r.start, r.type)},
            {
                "$inc": {f"c.{name}": value for name, value in r.counts.items()},
                "$setOnInsert": {"res": r.resolution, "start": r.start, "type": r.type},
            },
            upsert=True,
        )
        for r in ordered
    ]


def query(resolution: str, since: float, types: Sequence[str] | None) -> dict[str, Any]:
    found: dict[str, Any] = {"res": resolution, "start": {"$gte": since}}
    if types is not None:
        found["type"] = {"$in": list(types)}
    return found


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except ConnectionFailure as exc:
        raise Unavailable(f"MongoDB is unreachable: {exc}") from exc


class MongoRollups:
    """``MongoStore``'s history methods."""

    _jobs: AsyncCollection[dict[str, Any]]
    queue: str

    def _rollups(self) -> AsyncCollection[dict[str, Any]]:
        return self._jobs.database[collection_name(self.queue)]

    async def add_rollups(self, rows: Sequence[Rollup]) -> None:
        if rows:
            with _reachable():
                await self._rollups().bulk_write(updates(rows), ordered=False)

    async def rollups(
        self, resolution: str, since: float, types: Sequence[str] | None = None
    ) -> list[Rollup]:
        with _reachable():
            cursor = self._rollups().find(
                query(resolution, since, types), sort=[("start", 1), ("type", 1)]
            )
            found = await cursor.to_list()
        return [Rollup(resolution, d["start"], d["type"], dict(d.get("c", {}))) for d in found]

    async def prune_rollups(self, resolution: str, before: float) -> int:
        with _reachable():
            result = await self._rollups().delete_many(
                {"res": resolution, "start": {"$lt": before}}
            )
        return int(result.deleted_count)
