"""Issue 20, item 5: private fields cannot be recovered through filters or sorts.

The attack: a manager or a worker cannot read ``private``, but asks "does any job have
``private.password`` > m?" and halves the range until it knows the value; or sorts by it and
watches the order. Every such query is refused with ``forbidden`` naming the field, before any
job is read: the answer is the same whether the guess is right or wrong.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security import world as wd

ATTACKERS = ("manager", "worker", "creator")


@pytest.fixture
async def w(tmp_path):
    async for built in wd.build(tmp_path):
        yield built


def _probes(guess: str) -> list[tuple[str, dict[str, Any]]]:
    """Each way to test a guess at ``private.password``, or to order by it."""
    gt = {"private.password": {"$gt": guess}}
    return [
        ("jobs.find", {"filter": gt}),
        ("jobs.find", {"filter": {"$or": [{"status": "none"}, gt]}}),
        ("jobs.find", {"filter": {"private": {"$exists": True}}}),
        ("jobs.find", {"sort": [["private.password", 1]]}),
        ("jobs.find", {"sort": {"private": -1}}),
        ("jobs.counts", {"filter": gt}),
        ("jobs.counts", {"filter": {"private.password": guess}}),
        ("subscribe", {"filter": gt}),
    ]


QUERIES = {"ws": wd.ws_query, "http": wd.http_query}


@pytest.mark.parametrize("transport", list(QUERIES))
async def test_no_binary_search_on_private_fields(w, transport):
    query = QUERIES[transport]
    for role in ATTACKERS:
        for method, params in _probes("h"):
            if method == "subscribe" and transport == "http":
                continue  # subscriptions are WebSocket only
            right = await query(w, role, method, params)
            assert right is not None and right.startswith("forbidden"), (role, method, right)
            assert "'private" in right, right  # it names the field
            wrong_guess = await query(w, role, method, _probes("z")[_index(method, params)][1])
            assert wrong_guess == right, "the answer depends on the stored value"


def _index(method: str, params: dict[str, Any]) -> int:
    return next(i for i, probe in enumerate(_probes("h")) if probe == (method, params))


@pytest.mark.parametrize("transport", list(QUERIES))
async def test_admins_may_still_query_private_fields(w, transport):
    params = {"filter": {"private.password": wd.PRIVATE["password"]}}
    assert await QUERIES[transport](w, "admin", "jobs.find", params) is None


async def test_refused_queries_change_nothing(w):
    before = await w.srv.services.store.find({}, limit=100)
    for method, params in _probes("a"):
        await wd.ws_query(w, "manager", method, params)
    assert await w.srv.services.store.find({}, limit=100) == before
