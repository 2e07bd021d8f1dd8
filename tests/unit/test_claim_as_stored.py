"""The claim is decided once (``lifecycle.claim``) and every store stores exactly that document.

MongoDB's write is checked here without a server: mongomock, a pure-Python stand-in for its
update engine, applies the very write the MongoDB store sends, and the stored document must
equal the pure transition's, audit line and log cap included. (The integration suite
``test_store_same_documents`` compares the real stores with each other.)
"""

from __future__ import annotations

from typing import Any

import mongomock

from livejobs.jobs import lifecycle
from livejobs.jobs.bounds import MAX_LOG_ENTRIES, append_log
from livejobs.jobs.model import Job, blank_job
from livejobs.store.base import ClaimRequest
from livejobs.store.mongo.shapes import claim_write, doc_from_mongo, doc_to_mongo

NOW = 2000.0


def ready_job(*, attempts: int = 0, log_entries: int = 1) -> Job:
    doc = blank_job("echo", {"n": 1}, owner="ann", now=1000.0)
    doc["attempts"] = attempts
    for i in range(log_entries):
        append_log(doc, now=1000.0 + i, by="ann", message="created" if i == 0 else f"entry {i}")
    return doc


def request() -> ClaimRequest:
    return ClaimRequest(types=("echo",), worker_id="w1", user="ann", now=NOW, lease_seconds=30.0)


def mongo_claim(doc: Job) -> Job:
    """What the MongoDB store stores when it claims ``doc``, applied by mongomock."""
    jobs: Any = mongomock.MongoClient().db.jobs
    jobs.insert_one(doc_to_mongo(doc))
    claimed, where, replacement = claim_write(request(), jobs.find_one({"_id": doc["id"]}))
    assert jobs.replace_one(where, replacement).matched_count == 1
    stored = doc_from_mongo(jobs.find_one({"_id": doc["id"]}))
    assert stored == claimed
    return stored


def pure_claim(doc: Job) -> Job:
    req = request()
    return lifecycle.claim(
        doc, worker_id=req.worker_id, user=req.user, now=req.now, lease_seconds=req.lease_seconds
    )


def same_but_token(stored: Job, decided: Job) -> None:
    """Field by field, the lease token (random per claim) aside."""
    stored, decided = dict(stored), dict(decided)
    for doc in (stored, decided):
        if doc.get("lease"):
            doc["lease"] = {**doc["lease"], "token": "<token>"}
    assert sorted(stored) == sorted(decided)
    for name in decided:
        assert stored[name] == decided[name], name


def test_mongo_stores_the_claim_lifecycle_decides() -> None:
    doc = ready_job(attempts=1)  # the second attempt: the audit line says so
    same_but_token(mongo_claim(doc), pure_claim(doc))
    assert pure_claim(doc)["log"][-1]["message"] == "started by worker w1 (attempt 2)"


def test_a_claim_lost_to_another_server_writes_nothing() -> None:
    """The write finds the candidate only at the version read: a second claim of the same
    read (another server's, racing) matches nothing."""
    jobs: Any = mongomock.MongoClient().db.jobs
    doc = ready_job()
    jobs.insert_one(doc_to_mongo(doc))
    read = jobs.find_one({"_id": doc["id"]})
    first, second = claim_write(request(), read), claim_write(request(), read)
    assert jobs.replace_one(first[1], first[2]).matched_count == 1
    assert jobs.replace_one(second[1], second[2]).matched_count == 0
    stored = jobs.find_one({"_id": doc["id"]})
    assert stored["lease"]["token"] == first[0]["lease"]["token"]


def test_mongo_keeps_the_creation_entry_of_a_full_log() -> None:
    doc = ready_job(log_entries=MAX_LOG_ENTRIES)
    stored = mongo_claim(doc)
    assert stored["log"][0]["message"] == "created"
    assert len(stored["log"]) == MAX_LOG_ENTRIES
    same_but_token(stored, pure_claim(doc))
