"""A job's ``trace`` (its creator's W3C trace context) is kept by every store as given: through
insert, claim and replace, and readable by a filter, like any field of the document; a job
stored before the field existed still reads and claims."""

from __future__ import annotations

from livejobs.jobs.model import blank_job
from livejobs.query import parse_filter
from livejobs.store.base import ClaimRequest, Store

TRACE = {
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
}


def claim() -> ClaimRequest:
    return ClaimRequest(
        types=("traced",), worker_id="w1", user="ann", now=5000.0, lease_seconds=30.0, limit=5
    )


async def test_every_store_keeps_a_jobs_trace_through_its_life(store: Store) -> None:
    traced = {**blank_job("traced", None, owner="ann", now=1000.0), "trace": TRACE}
    plain = blank_job("traced", None, owner="ann", now=1001.0)
    old = blank_job("traced", None, owner="ann", now=1002.0)
    del old["trace"]  # as a store written before the field holds it
    await store.insert([traced, plain, old])
    assert (await store.get(traced["id"]))["trace"] == TRACE  # type: ignore[index]
    wanted = parse_filter({"trace.traceparent": TRACE["traceparent"]})
    assert [d["id"] for d in await store.find(wanted)] == [traced["id"]]
    claimed = {d["id"]: d for d in await store.claim(claim())}
    assert claimed[traced["id"]]["trace"] == TRACE
    assert claimed[plain["id"]]["trace"] is None and "trace" not in claimed[old["id"]]
    done = {**claimed[traced["id"]], "status": "completed", "version": 3}
    assert await store.replace(done, expected_version=2)
    assert await store.get(traced["id"]) == done
