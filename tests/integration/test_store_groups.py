"""Groups within a type, in every store's claim: at most ``group_concurrency`` running and
``group_rate_limit`` starts per ``group_rate_per`` seconds per group, decided by
``livejobs.jobs.rules`` and counted inside the claim, so they hold across servers."""

from __future__ import annotations

import asyncio
from collections import Counter

from livejobs.store.base import Store
from tests.integration.conftest import Backend
from tests.integration.test_store_contract import RULES, changed, claim_request, job, set_rules


def groups_of(docs: list[dict[str, object]]) -> list[object]:
    return [d.get("group") for d in docs]


async def test_group_concurrency_admits_one_per_group_past_a_full_groups_backlog(
    store: Store,
) -> None:
    docs = [job("t", group="a") for _ in range(5)] + [job("t", group="b"), job("t"), job("t")]
    await store.insert(docs)
    await set_rules(store, "t", group_concurrency=1)
    first = await store.claim(claim_request("t", limit=10, rules=RULES))
    assert groups_of(first) == ["a", "b", None, None]  # the rest of a's backlog is skipped
    assert await store.claim(claim_request("t", worker="w2", limit=10, rules=RULES)) == []
    assert await store.replace(changed(first[0], status="completed"), first[0]["version"])
    again = await store.claim(claim_request("t", worker="w2", limit=10, rules=RULES))
    assert [d["id"] for d in again] == [docs[1]["id"]]


async def test_group_limits_leave_a_small_claim_to_other_groups(store: Store) -> None:
    await store.insert([job("t", group="a") for _ in range(3)] + [job("t", group="b")])
    await set_rules(store, "t", group_concurrency=1, concurrency=10)
    one = await store.claim(claim_request("t", limit=1, rules=RULES))
    two = await store.claim(claim_request("t", limit=1, rules=RULES))
    assert groups_of(one + two) == ["a", "b"]


async def test_group_rate_limit_counts_starts_per_group(store: Store) -> None:
    await store.insert([job("t", group="a") for _ in range(4)] + [job("t", group="b")])
    rules = await set_rules(store, "t", group_rate_limit=2, group_rate_per=10.0)

    async def claim(now: float) -> list[object]:
        return groups_of(await store.claim(claim_request("t", limit=10, now=now, rules=RULES)))

    assert await claim(5000.0) == ["a", "a", "b"]
    assert await claim(5005.0) == []
    assert await store.rate_opening("t", rules, 5005.0) == 5010.0
    assert await claim(5010.5) == ["a", "a"]


async def test_group_limits_hold_across_servers_sharing_the_store(backend: Backend) -> None:
    one, two = await backend.open(), await backend.open()
    await one.insert([job("t", group=f"g{i % 3}") for i in range(30)])
    await set_rules(one, "t", group_concurrency=2)
    claims = [
        store.claim(claim_request("t", worker=f"w{i}", limit=3, rules=RULES))
        for i in range(6)
        for store in (one, two)
    ]
    claimed = [doc for batch in await asyncio.gather(*claims) for doc in batch]
    assert Counter(groups_of(claimed)) == {"g0": 2, "g1": 2, "g2": 2}
