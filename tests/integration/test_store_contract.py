"""The Store contract, once, against every backend (see conftest: SQLite always, MongoDB on demand).

Each behaviour the server relies on is tested here exactly once; the last section holds the
SQLite-only guarantees (durability across reopen, group commit failure handling).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import random
import resource
import signal
import sqlite3
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from livejobs.errors import Conflict, StoreRefused, Unavailable
from livejobs.jobs.model import Job, blank_job
from livejobs.jobs.rules import TypeRules
from livejobs.query import matches, parse_filter, resolve
from livejobs.store.base import Change, ClaimRequest, CreateRequest, Store
from livejobs.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from tests.integration.conftest import Backend

_times = itertools.count(1000)


def job(job_type: str = "echo", data: Any = None, **fields: Any) -> Job:
    """A ready job, each one created a second after the previous."""
    doc = blank_job(job_type, data, owner=fields.pop("owner", "ann"), now=float(next(_times)))
    doc.update(fields)
    return doc


def changed(doc: Job, **fields: Any) -> Job:
    return {**doc, **fields, "version": doc["version"] + 1}


def claim_request(
    *types: str, worker: str = "w1", limit: int = 1, now: float = 5000.0, **kw: Any
) -> ClaimRequest:
    return ClaimRequest(
        types=types, worker_id=worker, user="ann", now=now, lease_seconds=30.0, limit=limit, **kw
    )


async def next_change(feed: Any) -> Change:
    return await asyncio.wait_for(anext(feed), timeout=10)


def ids(docs: list[Job]) -> list[str]:
    return [d["id"] for d in docs]


# -- insert / get ----------------------------------------------------------------------------


async def test_insert_get_and_get_many(store: Store) -> None:
    a, b, c = job(data={"n": 1}), job(), job()
    assert await store.insert([a, b]) == [a, b]
    assert await store.insert([]) == []
    await store.insert([c])
    assert await store.get(a["id"]) == a
    assert await store.get("nope") is None
    assert ids(await store.get_many([c["id"], "nope", a["id"]])) == [c["id"], a["id"]]
    assert await store.get_many([]) == []


async def test_store_time_is_the_stores_clock_in_epoch_seconds(store: Store) -> None:
    """Every server keeps its time on this reading (``livejobs.clock.StoreClock``)."""
    before = time.time()
    reading = await store.store_time()
    after = time.time()
    # a store on this host: its clock is this host's, to its millisecond resolution
    assert before - 0.002 <= reading <= after + 0.002


async def test_insert_existing_id_conflicts(store: Store) -> None:
    a = job()
    await store.insert([a])
    with pytest.raises(Conflict):
        await store.insert([{**a, "type": "other"}])
    assert (await store.get(a["id"]))["type"] == "echo"


async def test_a_batch_with_a_clashing_id_names_it(store: Store) -> None:
    a = job()
    await store.insert([a])
    fresh, later = job(type="batch"), job(type="batch")
    for batch, clashing in (
        ([fresh, {**a, "type": "batch"}, later], a),
        ([later, {**later}], later),
    ):
        with pytest.raises(Conflict, match=clashing["id"]):
            await store.insert(batch)
        if isinstance(store, SQLiteStore):  # one transaction: nothing of the batch is kept
            assert await store.count_by("status", {"type": "batch"}) == {}
    assert (await store.get(a["id"]))["type"] == "echo"


async def test_key_held_by_unfinished_job_returns_it(store: Store) -> None:
    first = job(key="invoice-1")
    second, third = job(key="invoice-1"), job(key="invoice-1", data="in the same call")
    assert await store.insert([first]) == [first]
    assert ids(await store.insert([second, third])) == [first["id"], first["id"]]
    assert await store.count({"key": "invoice-1"}) == 1

    assert await store.replace(changed(first, status="completed"), first["version"])
    fresh = job(key="invoice-1")
    assert ids(await store.insert([fresh])) == [fresh["id"]]

    # A finished job restarted while another holds its key loses cleanly.
    done = await store.get(first["id"])
    with pytest.raises(Conflict):
        await store.replace(changed(done, status="ready"), done["version"])


async def test_keys_are_scoped_per_owner(store: Store) -> None:
    """Security issue 20, items 2 and 3: another owner's key neither returns nor blocks."""
    ann, bob = job(key="report", owner="ann"), job(key="report", owner="bob")
    assert await store.insert([ann]) == [ann]
    assert await store.insert([bob]) == [bob]  # not ann's job
    again = job(key="report", owner="ann", data="again")
    assert ids(await store.insert([again])) == [ann["id"]]  # ann's own job, as before
    assert (await store.get(ann["id"]))["key"] == "report"  # the key as given
    assert await store.count({"key": "report"}) == 2
    # a key moving onto another owner's job's key is no conflict either
    carol = job(owner="carol")
    await store.insert([carol])
    assert await store.replace(changed(carol, key="report"), carol["version"])


def create_request(owner: str = "ann", rid: str = "r-1", at: float = 100.0) -> CreateRequest:
    return CreateRequest(owner, rid, at, at + 60)


async def test_a_request_id_answers_a_retry_with_the_first_answer(store: Store) -> None:
    first = job(data=1)
    request = create_request()
    assert await store.insert([first], request) == [first] and not request.replayed
    running = changed(first, status="running")
    assert await store.replace(running, first["version"])
    retry = create_request(at=150.0)
    assert await store.insert([job(data=2)], retry) == [running]  # as stored now
    assert retry.replayed
    assert await store.count({}) == 1
    # a batch: the same id list, nothing inserted
    batch = [job(), job()]
    assert ids(await store.insert(batch, create_request(rid="b-1"))) == ids(batch)
    assert ids(await store.insert([job(), job()], create_request(rid="b-1"))) == ids(batch)
    assert await store.count({}) == 3


async def test_a_request_ids_answer_can_be_amended(store: Store) -> None:
    """A create whose answer changed after its insert (a schedule's save that went to the next
    run) makes a retry answer with that."""
    first, moved = job(data=1), job(data=2)
    request = create_request()
    await store.insert([first, moved], create_request(rid="other"))
    assert await store.insert([job()], request) != [first]
    await store.amend_answer(request, [moved["id"]])
    retry = create_request(at=150.0)
    assert await store.insert([job()], retry) == [moved] and retry.replayed


async def test_a_request_id_is_per_owner_and_forgotten_after_its_window(store: Store) -> None:
    ann, bob = job(owner="ann"), job(owner="bob")
    assert await store.insert([ann], create_request("ann")) == [ann]
    assert await store.insert([bob], create_request("bob")) == [bob]  # independent of ann's
    later = job(owner="ann")
    expired = create_request("ann", at=160.0)  # the first one's window ended at 160
    assert await store.insert([later], expired) == [later] and not expired.replayed
    assert ids(await store.insert([job(owner="ann")], create_request("ann", at=200))) == [
        later["id"]
    ]
    assert await store.count({}) == 3


# -- queries ---------------------------------------------------------------------------------


async def test_find_operators_sort_limit_skip(store: Store) -> None:
    docs = [
        job("email", {"user": "ann", "n": 1, "tags": ["a", "b"], "flag": True}, priority=0),
        job("email", {"user": "bob", "n": 2, "tags": ["b"]}, priority=-10),
        job("sms", {"user": "ann", "n": 3}, priority=0, status="paused"),
        job(
            "sms",
            {"user": "cid", "n": "3", "flag": 1},
            priority=10,
            depends=["x"],
            status="waiting",
        ),
    ]
    await store.insert(docs)
    e1, e2, s1, s2 = (d["id"] for d in docs)

    async def found(filter: dict[str, Any], **kw: Any) -> list[str]:
        return ids(await store.find(parse_filter(filter), **kw))

    assert await found({}) == [e1, e2, s1, s2]
    assert await found({"type": "sms"}) == [s1, s2]
    assert await found({"id": e2}) == [e2]
    assert await found({"data.user": "ann", "type": "email"}) == [e1]
    assert await found({"data.tags": "b"}) == [e1, e2]
    assert await found({"depends": "x"}) == [s2]
    assert await found({"status": {"$in": ["paused", "waiting"]}}) == [s1, s2]
    assert await found({"status": {"$nin": ["paused", "waiting"]}}) == [e1, e2]
    assert await found({"data.tags": {"$ne": "a"}}) == [e2, s1, s2]
    assert await found({"data.n": {"$gt": 1}}) == [e2, s1]
    assert await found({"data.n": {"$gte": 2, "$lt": 3}}) == [e2]
    assert await found({"data.n": {"$lte": "3"}}) == [s2]
    assert await found({"data.tags": {"$exists": False}}) == [s1, s2]
    assert await found({"data.flag": True}) == [e1]  # booleans are not numbers
    assert await found({"data.flag": {"$in": [1, "x"]}}) == [s2]
    assert await found({"data.flag": {"$gte": 0}}) == [s2]
    assert await found({"priority": "0"}) == []
    assert await found({"$or": [{"priority": {"$lt": 0}}, {"data.n": "3"}]}) == [e2, s2]
    assert await found({"$and": [{"type": "sms"}, {"$or": [{"data.user": "ann"}]}]}) == [s1]

    assert await found({}, sort=[("priority", 1)]) == [e2, e1, s1, s2]  # ties: by created
    assert await found({}, sort=[("priority", -1)]) == [s2, e1, s1, e2]
    assert await found({}, sort=[("data.user", -1), ("created", -1)]) == [s2, e2, s1, e1]
    assert await found({}, limit=2) == [e1, e2]
    assert await found({}, limit=2, skip=3) == [s2]
    assert await found({}, skip=1) == [e2, s1, s2]


async def test_find_agrees_with_matches(store: Store) -> None:
    """Random filters over awkward documents: the backend and ``query.matches`` must agree."""
    values: list[Any] = [None, True, False, 0, 1, 1.5, -5, "a", "b", "", "A", "é", "ready"]
    datas: list[Any] = [
        None,
        1,
        "a",
        [],
        {},
        {"n": 1},
        {"n": 1.5, "s": "b"},
        {"n": "1"},
        {"n": True},
        {"n": None},
        {"n": [1, "a", None]},
        {"n": [[1]]},
        {"obj": {"v": 1}},
        {"obj": {"v": "a"}},
        {"obj": 1},
        {"tags": ["a", "b"]},
        {"tags": ["A", 0, False]},
        {"year": {"2024": 1}},
        {"s": "é", "n": -5},
        {"obj": {"v": [0, 1.5]}},
        {"tags": [], "n": 0},
    ]
    docs = []
    for i, data in enumerate(datas):
        extra = {"priority": [0, -5, 10][i % 3], "status": ["ready", "paused"][i % 2]}
        if i % 4 == 0:
            extra["key"] = f"k{i}"
        if i % 5 == 0:
            extra["due"] = float(i)
        docs.append(job(["a", "b", "ready"][i % 3], data, owner=["ann", "bob"][i % 2], **extra))
    await store.insert(docs)

    paths = [
        "type",
        "status",
        "priority",
        "owner",
        "due",
        "key",
        "data",
        "data.n",
        "data.s",
        "data.tags",
        "data.tags.0",
        "data.tags.1",
        "data.obj",
        "data.obj.v",
        "data.obj.v.1",
        "data.year.2024",
        "data.n.0",
        "nothing",
        "exclude",
    ]
    rng = random.Random(7)

    def seen_at(path: str) -> list[Any]:
        found = []
        for d in docs:
            value = resolve(d, path)
            for item in value if isinstance(value, list) else [value]:
                if item is None or isinstance(item, bool | int | float | str):
                    found.append(item)
        return found or values

    observed = {path: seen_at(path) for path in paths}

    def condition(path: str) -> Any:
        pool = observed[path] if rng.random() < 0.6 else values
        op = rng.choice(["eq", "$in", "$nin", "$ne", "$gt", "$gte", "$lt", "$lte", "$exists"])
        if op == "eq":
            return rng.choice(pool)
        if op in ("$in", "$nin"):
            return {op: [rng.choice(pool) for _ in range(rng.randint(0, 4))]}
        if op == "$exists":
            return {op: rng.choice([True, False])}
        if op == "$ne":
            return {op: rng.choice(pool)}
        bounds = [v for v in pool if isinstance(v, int | float | str) and not isinstance(v, bool)]
        return {op: rng.choice(bounds or [0, "a"])}

    def make(depth: int) -> dict[str, Any]:
        if depth < 3 and rng.random() < 0.3:
            subs = [make(depth + 1) for _ in range(rng.randint(1, 3))]
            return {rng.choice(["$and", "$or", "$or"]): subs}
        return {path: condition(path) for path in rng.sample(paths, 1 if rng.random() < 0.8 else 2)}

    for _ in range(400):
        filter = parse_filter(make(1))
        expected = [d["id"] for d in docs if matches(d, filter)]
        assert ids(await store.find(filter)) == expected, filter
    assert await store.count({"data.n": {"$exists": True}}) == sum(
        1 for d in docs if isinstance(d["data"], dict) and "n" in d["data"]
    )


async def test_count_and_count_by(store: Store) -> None:
    await store.insert([job("a"), job("a", status="paused"), job("b"), job("c", owner="bob")])
    assert await store.count({}) == 4
    assert await store.count({"type": "a"}) == 2
    assert await store.count_by("status", {}) == {"ready": 3, "paused": 1}
    assert await store.count_by("type", {"owner": "ann"}) == {"a": 2, "b": 1}
    assert await store.count_by("type", {"owner": "nobody"}) == {}


async def test_counts_follow_every_write(store: Store) -> None:
    """Inserts, status and owner changes, claims and deletes, at random: the counts for the
    filters stores may answer without a scan (everything, a type, a status, an owner, their
    conjunction) always agree with the stored documents."""
    rng = random.Random(7)
    types, owners, statuses = ["a", "b", "c"], ["ann", "bob"], ["ready", "paused", "completed"]
    live: dict[str, Job] = {}
    for round_ in range(30):
        roll = rng.random()
        if roll < 0.4 or not live:
            batch = [job(rng.choice(types), owner=rng.choice(owners)) for _ in range(3)]
            for doc in await store.insert(batch):
                live[doc["id"]] = doc
        elif roll < 0.7:
            doc = live[rng.choice(sorted(live))]
            new = changed(doc, status=rng.choice(statuses), owner=rng.choice(owners))
            previous = doc if rng.random() < 0.5 else None  # both ways a store may write it
            assert await store.replace(new, doc["version"], previous)
            live[doc["id"]] = new
        elif roll < 0.85:
            for doc in await store.claim(claim_request(*types, limit=2, now=5000.0 + round_)):
                live[doc["id"]] = doc
        else:
            doc = live.pop(rng.choice(sorted(live)))
            assert await store.delete(doc["id"], doc["version"])
        for filter in (
            {},
            {"type": "a"},
            {"status": "ready"},
            {"owner": "bob"},
            {"$and": [{"type": "b"}, {"owner": "ann"}]},
        ):
            chosen = [d for d in live.values() if matches(d, filter)]
            assert await store.count(filter) == len(chosen)
            for column in ("status", "type", "owner"):
                expected = dict(Counter(d[column] for d in chosen))
                assert await store.count_by(column, filter) == expected, (column, filter)


async def test_counts_follow_writes_committed_together(store: Store) -> None:
    """Writes that land in one commit (the SQLite store counts a batch's moves at its end),
    among them a stale replace and one that fails on a held key: neither moves a count."""
    a1, a2, a3, keyed = job("a"), job("a"), job("a"), job("a", key="k")
    other = job("b", key="other")
    await store.insert([a1, a2, a3, keyed, other])
    stale = changed(a3, status="paused")
    await store.replace(changed(a3, status="completed"), a3["version"])
    results = await asyncio.gather(
        store.replace(changed(a1, status="completed"), a1["version"]),
        store.replace(stale, a3["version"]),  # a3 moved on: refused
        store.replace(changed(keyed, key="other", status="paused"), keyed["version"]),
        store.claim(claim_request("a", limit=5)),
        store.replace(changed(other, owner="bob"), other["version"]),
        return_exceptions=True,
    )
    assert results[0] is True and results[1] is False and results[4] is True
    if store.ordered_writes:  # elsewhere the keyed replace races the claim and the owner move
        assert isinstance(results[2], Conflict)
        assert sorted(ids(results[3])) == sorted([a2["id"], keyed["id"]])
    stored = await store.find({})
    for filter in ({}, {"type": "a"}, {"owner": "bob"}):
        chosen = [d for d in stored if matches(d, filter)]
        assert await store.count(filter) == len(chosen)
        for column in ("status", "type", "owner"):
            expected = dict(Counter(d[column] for d in chosen))
            assert await store.count_by(column, filter) == expected, (column, filter)
    if store.ordered_writes:
        assert await store.count_by("status", {"type": "a"}) == {"completed": 2, "running": 2}


# -- conditional writes ----------------------------------------------------------------------


async def test_replace_and_delete_compare_version(store: Store) -> None:
    a = job()
    await store.insert([a])
    assert not await store.replace({**a, "data": 1, "version": 7}, 6)  # not the stored version
    assert await store.replace(changed(a, data=1), a["version"])
    assert not await store.replace(changed(a, data=2), a["version"])  # stale
    stored = await store.get(a["id"])
    assert stored["data"] == 1 and stored["version"] == a["version"] + 1
    assert not await store.delete(a["id"], a["version"])
    assert await store.delete(a["id"], stored["version"])
    assert await store.get(a["id"]) is None
    assert not await store.delete(a["id"], stored["version"])
    assert not await store.replace(changed(stored, data=3), stored["version"])


async def test_replace_given_the_previous_job_still_compares_the_stored_version(
    store: Store,
) -> None:
    a = job()
    await store.insert([a])
    first = changed(a, data=1, status="paused")
    assert await store.replace(first, a["version"], a)
    # a caller holding a stale copy loses the race, whichever version it names
    assert not await store.replace(changed(a, data=2), a["version"], a)
    assert not await store.replace({**first, "version": 9}, 8, {**first, "version": 8})
    second = changed(first, status="ready")
    assert await store.replace(second, first["version"], first)
    stored = await store.get(a["id"])
    assert stored["data"] == 1 and stored["status"] == "ready"
    assert stored["version"] == a["version"] + 2
    assert await store.count({"status": "ready"}) == 1
    assert await store.count({"status": "paused"}) == 0


async def test_racing_replaces_exactly_one_wins(store: Store) -> None:
    a = job()
    await store.insert([a])
    results = await asyncio.gather(
        *(store.replace(changed(a, data=i), a["version"]) for i in range(10))
    )
    assert results.count(True) == 1
    assert (await store.get(a["id"]))["data"] == results.index(True)


# -- claim -----------------------------------------------------------------------------------


async def test_claim_takes_priority_then_age(store: Store) -> None:
    old_low, urgent, new_low, other, later = (
        job(priority=10),
        job(priority=-10),
        job(priority=10),
        job("other", priority=-20),
        job(),
    )
    await store.insert([old_low, urgent, new_low, other, later, job(status="paused")])
    first = await store.claim(claim_request("echo", limit=2))
    assert ids(first) == [urgent["id"], later["id"]]
    for doc in first:
        assert doc["status"] == "running" and doc["lease"]["worker"] == "w1"
        assert doc["attempts"] == 1 and doc["version"] == 2 and doc["due"] == 5030.0
        assert await store.get(doc["id"]) == doc
    assert ids(await store.claim(claim_request("echo", limit=5))) == [old_low["id"], new_low["id"]]
    assert await store.claim(claim_request("echo")) == []
    assert await store.claim(claim_request()) == []


async def test_concurrent_claimers_never_share_a_job(store: Store) -> None:
    await store.insert([job() for _ in range(30)])
    batches = await asyncio.gather(
        *(store.claim(claim_request("echo", worker=f"w{i}", limit=4)) for i in range(10))
    )
    claimed = [d["id"] for batch in batches for d in batch]
    assert len(claimed) == 30 and len(set(claimed)) == 30
    for i, batch in enumerate(batches):
        assert all(d["lease"]["worker"] == f"w{i}" for d in batch)


async def test_claim_respects_target_and_exclude(store: Store) -> None:
    mine, not_w1, anyone = job(target="w1"), job(exclude=["w1", "w3"]), job()
    await store.insert([mine, not_w1, anyone])
    assert ids(await store.claim(claim_request("echo", worker="w3", limit=5))) == [anyone["id"]]
    assert ids(await store.claim(claim_request("echo", worker="w2", limit=5))) == [not_w1["id"]]
    assert ids(await store.claim(claim_request("echo", worker="w1", limit=5))) == [mine["id"]]


RULES = "types"


async def set_rules(store: Store, job_type: str, **rules: Any) -> TypeRules:
    stored = TypeRules(**rules)
    await store.put_record(RULES, job_type, stored.to_dict(job_type))
    return stored


async def test_claim_respects_the_types_rules_as_stored(store: Store) -> None:
    docs = [job("a"), job("b"), job("a"), job("b"), job("a"), job("c"), job("d")]
    await store.insert(docs)
    await set_rules(store, "a", concurrency=1)
    await set_rules(store, "c", concurrency=0)
    await set_rules(store, "d", paused=True)
    got = await store.claim(claim_request("a", "b", "c", "d", limit=10, rules=RULES))
    assert ids(got) == [docs[0]["id"], docs[1]["id"], docs[3]["id"]]
    await set_rules(store, "d")  # resumed: the very next claim sees it
    assert ids(await store.claim(claim_request("d", limit=10, rules=RULES))) == [docs[6]["id"]]


async def test_concurrency_limit_counts_running_jobs_in_the_store(store: Store) -> None:
    await store.insert([job("a") for _ in range(5)])
    await set_rules(store, "a", concurrency=2)
    first = await store.claim(claim_request("a", limit=10, rules=RULES))
    assert len(first) == 2
    assert await store.claim(claim_request("a", worker="w2", limit=10, rules=RULES)) == []
    assert await store.replace(changed(first[0], status="completed"), first[0]["version"])
    assert len(await store.claim(claim_request("a", worker="w2", limit=10, rules=RULES))) == 1


async def test_rate_limit_counts_starts_in_a_sliding_window(store: Store) -> None:
    await store.insert([job("a") for _ in range(8)])
    three = await set_rules(store, "a", rate_limit=3, rate_per=10.0)

    async def claim(limit: int, now: float) -> int:
        return len(await store.claim(claim_request("a", limit=limit, now=now, rules=RULES)))

    assert await claim(2, 5000.0) == 2
    assert await claim(5, 5001.0) == 1
    assert await claim(5, 5009.0) == 0
    assert await store.rate_opening("a", three, 5009.0) == 5010.0
    # the two starts at 5000 have left the window; the one at 5001 has not
    assert await claim(5, 5010.5) == 2
    assert await store.rate_opening("a", three, 5010.5) == 5011.0
    assert await store.rate_opening("b", three, 5010.5) is None


async def test_flow_rules_hold_across_servers_sharing_the_store(backend: Backend) -> None:
    """Two stores on the same data stand for two server processes: claims racing on both
    never start more than the rules allow between them."""
    one, two = await backend.open(), await backend.open()
    await one.insert([job("a") for _ in range(30)] + [job("b") for _ in range(30)])
    await set_rules(one, "a", concurrency=3)
    await set_rules(two, "b", rate_limit=4, rate_per=60.0)
    claims = [
        store.claim(claim_request("a", "b", worker=f"w{i}", limit=2, rules=RULES))
        for i in range(10)
        for store in (one, two)
    ]
    claimed = [doc for batch in await asyncio.gather(*claims) for doc in batch]
    by_type = Counter(doc["type"] for doc in claimed)
    assert by_type == {"a": 3, "b": 4}
    assert await two.count({"status": "running", "type": "a"}) == 3


# -- scheduling ------------------------------------------------------------------------------


async def test_due_and_next_due(store: Store) -> None:
    assert await store.next_due() is None
    late, early, never, middle = job(due=50.0), job(due=10.0), job(due=None), job(due=30.0)
    await store.insert([late, early, never, middle])
    assert await store.next_due() == 10.0
    assert ids(await store.due(30.0)) == [early["id"], middle["id"]]
    assert ids(await store.due(100.0, limit=1)) == [early["id"]]
    assert await store.due(5.0) == []
    assert await store.replace(changed(early, due=None), early["version"])
    assert await store.next_due() == 30.0


# -- change feed -----------------------------------------------------------------------------


async def test_watch_sees_every_commit_in_order(store: Store) -> None:
    early = store.watch()
    before = job()
    await store.insert([before])
    assert (await next_change(early)).id == before["id"]  # the feed is past it now
    feed, other = store.watch(), store.watch()
    a = job()
    await store.insert([a])
    assert await store.replace(changed(a, data="x"), a["version"])
    assert ids(await store.claim(claim_request("echo", worker="w9"))) == [before["id"]]
    assert await store.delete(a["id"], a["version"]) is False  # stale: nothing published
    assert await store.delete(a["id"], a["version"] + 1)

    seen = [await next_change(feed) for _ in range(4)]
    assert [(c.op, c.id) for c in seen] == [
        ("insert", a["id"]),
        ("update", a["id"]),
        ("update", before["id"]),
        ("delete", a["id"]),
    ]
    assert seen[0].doc == a and seen[1].doc["data"] == "x"
    assert seen[2].doc["status"] == "running" and seen[3].doc is None
    assert [(c.op, c.id) for c in [await next_change(other) for _ in range(4)]] == [
        (c.op, c.id) for c in seen
    ]


async def test_watch_hands_over_every_waiting_change_at_once(store: Store) -> None:
    feed = store.watch()
    a, b = job(), job()
    await store.insert([a])
    await store.insert([b])
    got: list[Change] = []
    while len(got) < 2:  # a change stream may deliver them one by one
        got += await asyncio.wait_for(feed.batch(), 5)
    assert [(c.op, c.id) for c in got] == [("insert", a["id"]), ("insert", b["id"])]
    await feed.aclose()
    assert await feed.batch() == []  # ended


# -- records ---------------------------------------------------------------------------------


async def test_records_crud(store: Store) -> None:
    assert await store.get_record("user", "ann") is None
    await store.put_record("user", "bob", {"name": "bob", "role": "admin"})
    await store.put_record("user", "ann", {"name": "ann", "role": "worker"})
    await store.put_record("token", "ann", {"hash": "h"})
    await store.put_record("user", "ann", {"name": "ann", "role": "manager"})
    assert await store.get_record("user", "ann") == {"name": "ann", "role": "manager"}
    assert [r["name"] for r in await store.list_records("user")] == ["ann", "bob"]
    assert await store.delete_record("user", "ann")
    assert not await store.delete_record("user", "ann")
    assert await store.list_records("user") == [{"name": "bob", "role": "admin"}]
    assert await store.get_record("token", "ann") == {"hash": "h"}
    await store.ping()


async def test_swap_record_writes_only_at_the_revision_read(store: Store) -> None:
    """``swap_record`` is a compare-and-set on the record's ``rev``: absent (or a record
    without one) is revision 0; a write at a revision that moved on changes nothing."""
    assert await store.swap_record("types", "t", {"type": "t", "rev": 1}, 0)
    assert not await store.swap_record("types", "t", {"type": "t", "lost": True, "rev": 1}, 0)
    assert not await store.swap_record("types", "t", {"type": "t", "lost": True, "rev": 3}, 2)
    assert await store.swap_record("types", "t", {"type": "t", "second": True, "rev": 2}, 1)
    assert await store.get_record("types", "t") == {"type": "t", "second": True, "rev": 2}
    assert not await store.swap_record("types", "gone", {"rev": 2}, 1)  # no record: rev 0
    assert await store.get_record("types", "gone") is None
    await store.put_record("types", "old", {"type": "old", "paused": True})  # before revisions
    assert not await store.swap_record("types", "old", {"type": "old", "rev": 2}, 1)
    assert await store.swap_record("types", "old", {"type": "old", "rev": 1}, 0)
    assert await store.get_record("types", "old") == {"type": "old", "rev": 1}


async def test_racing_swaps_of_one_record_exactly_one_wins(backend: Backend) -> None:
    """Writers on two stores (two servers) swapping from the same revision: one wins."""
    one, two = await backend.open(), await backend.open()
    for rev in (0, 1):
        attempts = [
            store.swap_record("types", "t", {"by": f"{n}", "rev": rev + 1}, rev)
            for n in range(6)
            for store in (one, two)
        ]
        assert sum(await asyncio.gather(*attempts)) == 1
    stored = await two.get_record("types", "t")
    assert stored is not None and stored["rev"] == 2


async def test_data_survives_reopening(backend: Backend) -> None:
    store = await backend.open()
    a = job(data={"keep": [1, 2]})
    await store.insert([a])
    await store.put_record("setting", "s", {"v": 1})
    await store.close()
    again = await backend.open()
    assert await again.get(a["id"]) == a
    assert await again.get_record("setting", "s") == {"v": 1}


# -- SQLite only: group commit ---------------------------------------------------------------


async def test_sqlite_counts_a_database_from_before_the_count_table(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    store = SQLiteStore(path)
    await store.open()
    await store.insert([job("a"), job("a", status="paused"), job("b", owner="bob")])
    await store.close()
    with sqlite3.connect(path) as conn:  # as a database written before counts were kept
        conn.executescript(
            "DROP TRIGGER job_counts_delete; DROP TABLE job_counts; PRAGMA user_version = 0;"
        )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        assert await store.count_by("status", {"type": "a"}) == {"ready": 1, "paused": 1}
        await store.insert([job("b")])
        assert await store.count_by("type", {}) == {"a": 2, "b": 2}
    finally:
        await store.close()


# The trigger that counted updates before the store's batch did (still in older files).
OLD_UPDATE_TRIGGER = """
CREATE TRIGGER job_counts_update AFTER UPDATE OF type, status, owner ON jobs
WHEN OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status OR OLD.owner IS NOT NEW.owner
BEGIN
  UPDATE job_counts SET n = n - 1
  WHERE type = OLD.type AND status = OLD.status AND owner = OLD.owner;
  INSERT INTO job_counts SELECT NEW.type, NEW.status, NEW.owner, 1
  ON CONFLICT DO UPDATE SET n = n + 1;
END
"""


async def older_database(tmp_path: Path, docs: list[Job], aging_sql: str) -> SQLiteStore:
    """A store reopened on a file holding ``docs`` that ``aging_sql`` turned back into what an
    earlier version of the store left behind."""
    path = str(tmp_path / "old.db")
    store = SQLiteStore(path)
    await store.open()
    await store.insert(docs)
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.executescript(aging_sql + "; PRAGMA user_version = 0;")  # from before versions
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    return store


async def test_sqlite_counts_updates_once_in_a_database_with_the_old_trigger(
    tmp_path: Path,
) -> None:
    store = await older_database(tmp_path, [job("a"), job("a")], OLD_UPDATE_TRIGGER)
    try:
        (claimed,) = await store.claim(claim_request("a"))
        assert await store.count_by("status", {"type": "a"}) == {"ready": 1, "running": 1}
        assert await store.replace(changed(claimed, status="completed"), claimed["version"])
        assert await store.count_by("status", {}) == {"ready": 1, "completed": 1}
    finally:
        await store.close()


async def test_sqlite_fills_the_affinity_columns_of_a_database_from_before_them(
    tmp_path: Path,
) -> None:
    mine, not_w1, anyone = job(target="w1"), job(exclude=["w1", "w3"]), job()
    store = await older_database(
        tmp_path,
        [mine, not_w1, anyone],
        "ALTER TABLE jobs DROP COLUMN target; ALTER TABLE jobs DROP COLUMN exclude;",
    )
    try:
        assert ids(await store.claim(claim_request("echo", worker="w3", limit=5))) == [anyone["id"]]
        assert ids(await store.claim(claim_request("echo", worker="w1", limit=5))) == [mine["id"]]
        assert ids(await store.claim(claim_request("echo", worker="w2", limit=5))) == [not_w1["id"]]
    finally:
        await store.close()


async def test_sqlite_refuses_a_path_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(StoreRefused, match="cannot open the SQLite database"):
        await SQLiteStore(str(tmp_path / "no such dir" / "jobs.db")).open()


async def test_sqlite_memory_database_works() -> None:
    store = SQLiteStore(":memory:")
    await store.open()
    try:
        a = job()
        await store.insert([a])
        assert await store.get(a["id"]) == a
    finally:
        await store.close()
    with pytest.raises(Unavailable):
        await store.get(a["id"])


async def test_sqlite_failing_call_fails_alone(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "jobs.db"), synchronous="FULL")
    await store.open()
    try:
        taken = job()
        await store.insert([taken])
        ok1, ok2 = job(), job()
        # Queued in the same tick, so they share one transaction.
        results = await asyncio.gather(
            store.insert([ok1]),
            store.insert([job(), {**taken}]),
            store.insert([ok2]),
            return_exceptions=True,
        )
        assert results[0] == [ok1] and results[2] == [ok2]
        assert isinstance(results[1], Conflict)
        assert await store.count({}) == 3  # the failed call left nothing behind
    finally:
        await store.close()


async def test_sqlite_commit_failure_fails_the_batch_then_recovers(tmp_path: Path) -> None:
    """A full disk (here: a file size limit) fails every caller of the batch with Unavailable;
    nothing of it is stored, and the store works again once there is room."""
    path = tmp_path / "jobs.db"
    store = SQLiteStore(str(path))
    await store.open()
    try:
        await store.insert([job()])
        largest = max(f.stat().st_size for f in tmp_path.iterdir())
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 65536, limits[1]))
        try:
            big, small = job(data="x" * 2_000_000), job()
            results = await asyncio.gather(
                store.insert([big]),
                store.insert([small]),
                return_exceptions=True,
            )
            # reads use their own connection: they go on answering while writes fail
            assert await store.count({}) == 1
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limits)
            signal.signal(signal.SIGXFSZ, previous)
        assert all(isinstance(r, Unavailable) for r in results), results
        assert "nothing from this request was saved" in str(results[0])
        assert await store.count({}) == 1
        again = job(data="y" * 2_000_000)
        assert await store.insert([again]) == [again]
    finally:
        await store.close()
    reopened = SQLiteStore(str(path))
    await reopened.open()
    try:
        assert await reopened.count({}) == 2
    finally:
        await reopened.close()


async def test_sqlite_close_answers_queued_calls(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "jobs.db"))
    await store.open()
    feed = store.watch()
    # gather starts its tasks in order: the inserts queue before close() begins.
    *inserted, _ = await asyncio.gather(*(store.insert([job()]) for _ in range(50)), store.close())
    assert all(len(docs) == 1 for docs in inserted)
    assert len([c async for c in feed]) == 50  # then the feed ends
    assert os.path.exists(tmp_path / "jobs.db")


# -- MongoDB start-up (no server needed) -----------------------------------------------------


async def test_mongo_refuses_to_start_without_a_server() -> None:
    from livejobs.store.mongo import MongoStore

    store = MongoStore("mongodb://user:secret@127.0.0.1:1/db?serverSelectionTimeoutMS=100")
    # PyMongo's async client leaves open the socket of a connection attempt that its close()
    # cancels (pool_shared._async_create_connection closes it on OSError only). Those sockets
    # are collected here, quietly, rather than warned about in whichever later test (or the
    # end of the session) runs into the garbage collector: in CI that was the chaos test. The
    # error's traceback holds frames that hold such a socket, so it goes before the collection.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(StoreRefused, match="cannot use MongoDB at 127.0.0.1:1") as refused:
            await store.open()
        message = str(refused.value)
        del refused, store
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:  # the cancelled connection attempts finish
            await asyncio.wait(others, timeout=5)
        gc.collect()
    assert "secret" not in message
    with pytest.raises(ValueError):
        MongoStore("mongodb://h/db", queue="records")
