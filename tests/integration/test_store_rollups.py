"""The history rollups of every store (``Store.add_rollups``): rows merge by adding, also when
two stores on the same data add to the same minute at once; reads filter; pruning by age."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from livejobs.store.base import Rollup

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

T0 = 1_800_000_000.0


def totals(rows: list[Rollup]) -> dict[tuple[str, float, str], dict[str, float]]:
    return {(r.resolution, r.start, r.type): dict(r.counts) for r in rows}


async def test_rollups_merge_by_adding_across_stores(backend: Backend):
    one, two = await backend.open(), await backend.open()
    await one.add_rollups([Rollup("minute", T0, "a", {"created": 2, "wait_3": 1})])

    async def add(store, n: int) -> None:
        for _ in range(n):
            await store.add_rollups(
                [
                    Rollup("minute", T0, "a", {"created": 1, "wait_sum": 0.5}),
                    Rollup("minute", T0, "b", {"completed": 1}),
                ]
            )

    await asyncio.gather(add(one, 10), add(two, 10))
    found = totals(await two.rollups("minute", T0))
    assert found == {
        ("minute", T0, "a"): {"created": 22, "wait_3": 1, "wait_sum": 10.0},
        ("minute", T0, "b"): {"completed": 20},
    }


async def test_rollups_read_by_resolution_since_and_type(backend: Backend):
    store = await backend.open()
    await store.add_rollups(
        [
            Rollup("minute", T0, "a", {"created": 1}),
            Rollup("minute", T0 + 60, "a", {"created": 2}),
            Rollup("minute", T0 + 60, "b", {"created": 3}),
            Rollup("hour", T0, "a", {"created": 3}),
        ]
    )
    assert [(r.start, r.type) for r in await store.rollups("minute", T0)] == [
        (T0, "a"),
        (T0 + 60, "a"),
        (T0 + 60, "b"),
    ]
    assert [(r.start, r.type) for r in await store.rollups("minute", T0 + 1)] == [
        (T0 + 60, "a"),
        (T0 + 60, "b"),
    ]
    assert totals(await store.rollups("minute", 0, ["b"])) == {
        ("minute", T0 + 60, "b"): {"created": 3}
    }
    assert totals(await store.rollups("hour", 0)) == {("hour", T0, "a"): {"created": 3}}


async def test_rollups_pruned_by_age_per_resolution(backend: Backend):
    store = await backend.open()
    await store.add_rollups(
        [
            Rollup("minute", T0, "a", {"created": 1}),
            Rollup("minute", T0 + 60, "a", {"created": 1}),
            Rollup("hour", T0, "a", {"created": 2}),
        ]
    )
    assert await store.prune_rollups("minute", T0 + 60) == 1
    assert [(r.resolution, r.start) for r in await store.rollups("minute", 0)] == [
        ("minute", T0 + 60)
    ]
    assert len(await store.rollups("hour", 0)) == 1  # another resolution is kept as long as its own
