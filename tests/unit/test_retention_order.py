"""Issue 24 (items 4, 5, 9), the pure parts: failed jobs get a retention time, the claim
order puts LIFO jobs first, MongoDB keeps that order in ``_rank``, a schedule is replaced."""

from __future__ import annotations

from livejobs.jobs import lifecycle
from livejobs.jobs.model import blank_job
from livejobs.service.create import reschedule
from livejobs.store.mongo.shapes import doc_from_mongo, doc_to_mongo


def test_a_failed_job_is_due_for_removal_after_its_retain_time() -> None:
    doc = blank_job("t", None, owner="ann", now=100.0)
    claimed = lifecycle.claim(doc, worker_id="w", user="w", now=100.0, lease_seconds=30)
    token = claimed["lease"]["token"]
    failed = lifecycle.fail(
        claimed, error="no", by="w", now=110.0, lease_token=token, default_retain=60
    )
    assert failed["status"] == "failed" and failed["due"] == 170.0
    expired = lifecycle.expire(dict(doc, expire_at=105.0), now=105.0, default_retain=None)
    assert expired["status"] == "failed" and expired["due"] is None  # kept: no retention


def test_lifo_jobs_come_first_newest_first_within_a_priority() -> None:
    jobs = [blank_job("t", None, owner="ann", now=float(t)) for t in range(4)]
    jobs[1]["lifo"] = jobs[2]["lifo"] = True
    jobs[3]["priority"] = -10
    order = sorted(jobs, key=lifecycle.claim_order)
    assert order == [jobs[3], jobs[2], jobs[1], jobs[0]]


def test_mongo_stores_the_claim_rank_and_never_returns_it() -> None:
    doc = dict(blank_job("t", None, owner="ann", now=50.0), lifo=True)
    stored = doc_to_mongo(doc)
    assert stored["_rank"] == -50.0
    assert doc_from_mongo(stored) == doc


def test_a_schedule_saved_again_replaces_the_held_ones() -> None:
    held = blank_job("t", {"v": 1}, owner="ann", now=0.0)
    held.update(status="waiting", after=60.0, repeat={"every": 60, "run": 3})
    new = blank_job("t", {"v": 2}, owner="ann", now=10.0)
    new.update(after=3610.0, repeat={"every": 3600}, priority=-10)
    out = reschedule(held, new, "ann", 10.0)
    assert out["repeat"] == {"every": 3600, "run": 3} and out["data"] == {"v": 2}
    assert out["after"] == 3610.0 and out["priority"] == -10 and out["status"] == "waiting"
    assert out["log"][-1]["message"] == "schedule replaced"
