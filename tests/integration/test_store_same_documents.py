"""Every store stores the same document for the same transition (issue 22).

The same jobs go through the same transitions, decided by ``livejobs.jobs.lifecycle``, on
SQLite, PostgreSQL and (with ``LIVEJOBS_TEST_MONGODB_URI``) MongoDB: create, claim, progress,
log, fail and retry, claim again, complete; a claim of a job whose log is full; a claim under
a concurrency rule. After each step the stored documents are compared field by field; only
the lease token (random per claim) is set aside.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livejobs.jobs import lifecycle
from livejobs.jobs.bounds import MAX_LOG_ENTRIES, append_log
from livejobs.jobs.model import Job, blank_job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import ClaimRequest, Store
from tests.integration.conftest import MONGODB_URI, _with_database
from tests.pg import Cluster

RULES = "types"
T0 = 1000.0


def jobs() -> list[Job]:
    """The jobs every store starts from (the very same ids and times)."""
    plain = blank_job("echo", {"n": 1}, owner="ann", now=T0)
    plain["retry"] = {**plain["retry"], "retries": 1, "wait": 5.0}
    full = blank_job("full", None, owner="ann", now=T0 + 1)
    limited = [blank_job("few", i, owner="ann", now=T0 + 2 + i) for i in range(3)]
    docs = [plain, full, *limited]
    for doc in docs:
        append_log(doc, now=doc["created"], by="ann", message="created")
    for i in range(1, MAX_LOG_ENTRIES):
        append_log(full, now=T0 + i, by="ann", message=f"line {i}")
    return docs


def claim_request(job_type: str, now: float, limit: int = 1) -> ClaimRequest:
    return ClaimRequest(
        types=(job_type,),
        worker_id="w1",
        user="ann",
        now=now,
        lease_seconds=30.0,
        limit=limit,
        rules=RULES,
    )


async def write(store: Store, old: Job, new: Job) -> Job:
    assert await store.replace(new, old["version"], old)
    return new


async def run_transitions(store: Store, docs: list[Job]) -> list[list[Job]]:
    """The sequence, on one store; returns what the store holds after each step."""
    plain, full = docs[0], docs[1]
    await store.insert(docs)
    await store.put_record(RULES, "few", TypeRules(concurrency=2).to_dict("few"))
    seen: list[list[Job]] = [[await one(store, plain["id"])]]

    (job,) = await store.claim(claim_request("echo", T0 + 10))
    token = job["lease"]["token"]
    job = await write(
        store, job, lifecycle.progress(job, lease_token=token, completed=1, total=4, now=T0 + 11)
    )
    job = await write(
        store,
        job,
        lifecycle.log(
            job, lease_token=token, message="half way", level="info", data={"k": 1}, by="w1",
            now=T0 + 12,
        ),
    )  # fmt: skip
    job = await write(store, job, lifecycle.fail(job, error="boom", by="w1", now=T0 + 13,
                                                 lease_token=token))  # fmt: skip
    seen.append([await one(store, plain["id"])])
    job = await write(store, job, lifecycle.promote(job, now=T0 + 20))
    (job,) = await store.claim(claim_request("echo", T0 + 21))
    token = job["lease"]["token"]
    job = await write(
        store,
        job,
        lifecycle.complete(
            job, lease_token=token, result={"ok": True}, by="w1", now=T0 + 22, default_retain=None
        ),
    )
    seen.append([await one(store, plain["id"])])

    await store.claim(claim_request("full", T0 + 30))
    seen.append([await one(store, full["id"])])

    claimed = await store.claim(claim_request("few", T0 + 40, limit=10))
    assert len(claimed) == 2  # the concurrency rule, as stored, holds the third back
    seen.append(await store.find({"type": "few"}))
    return seen


async def one(store: Store, job_id: str) -> Job:
    found = await store.get(job_id)
    assert found is not None
    return found


def normalised(doc: Job) -> Job:
    doc = copy.deepcopy(doc)
    if doc.get("lease"):
        doc["lease"]["token"] = "<token>"
    return doc


@pytest.fixture
async def stores(pg_cluster: Cluster, tmp_path: Any) -> AsyncIterator[dict[str, Store]]:
    from livejobs.store.postgres import PostgresStore
    from livejobs.store.sqlite import SQLiteStore

    opened: dict[str, Store] = {
        "sqlite": SQLiteStore(str(tmp_path / "jobs.db")),
        "postgres": PostgresStore(pg_cluster.create_database(), pool_size=2),
    }
    database = f"livejobs_test_{uuid.uuid4().hex[:12]}"
    if MONGODB_URI:
        from livejobs.store.mongo import MongoStore

        opened["mongodb"] = MongoStore(_with_database(MONGODB_URI, database))
    try:
        for store in opened.values():
            await store.open()
        yield opened
    finally:
        for store in opened.values():
            await store.close()
        if MONGODB_URI:
            from pymongo import AsyncMongoClient

            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGODB_URI)
            try:
                await client.drop_database(database)
            finally:
                await client.close()


async def test_every_store_stores_the_same_documents(stores: dict[str, Store]) -> None:
    docs = jobs()
    seen = {
        name: await run_transitions(store, copy.deepcopy(docs)) for name, store in stores.items()
    }
    reference = seen.pop("sqlite")
    assert reference[1][0]["status"] == "waiting" and reference[2][0]["attempts"] == 2
    assert reference[2][0]["log"][-2]["message"] == "started by worker w1 (attempt 2)"
    assert reference[3][0]["log"][0]["message"] == "created"
    for name, steps in seen.items():
        assert len(steps) == len(reference), name
        for step, (got, expected) in enumerate(zip(steps, reference, strict=True)):
            assert [d["id"] for d in got] == [d["id"] for d in expected], (name, step)
            for stored, wanted in zip(got, expected, strict=True):
                stored, wanted = normalised(stored), normalised(wanted)
                assert sorted(stored) == sorted(wanted), (name, step)
                for field in wanted:
                    assert stored[field] == wanted[field], (name, step, stored["id"], field)
