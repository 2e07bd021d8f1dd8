"""Pure transitions of dependency options and retry deadlines (issue 24)."""

from __future__ import annotations

import pytest

from livejobs.errors import Conflict
from livejobs.jobs import lifecycle
from livejobs.jobs.model import blank_job

NOW = 1_000.0


def job(**fields):
    doc = blank_job("t", None, owner="u", now=NOW)
    doc.update(fields)
    return lifecycle.settle(doc, NOW, None)


def test_a_completed_dependency_leaves_its_result():
    doc = job(depends=["a", "b"])
    doc = lifecycle.dependencies_met(doc, completed={"a"}, now=NOW, results={"a": 1})
    doc = lifecycle.dependencies_met(doc, completed={"b"}, now=NOW, results={"b": [2]})
    assert doc["status"] == "ready" and doc["results"] == {"a": 1, "b": [2]}


def test_ready_force_drops_unfinished_dependencies():
    doc = job(depends=["a"])
    assert lifecycle.ready_now(doc, by="m", now=NOW)["status"] == "waiting"
    forced = lifecycle.ready_now(doc, by="m", now=NOW, force=True)
    assert forced["status"] == "ready" and forced["depends"] == []
    assert "despite a" in forced["log"][-1]["message"]


def test_revive_only_what_that_dependency_cancelled():
    doc = job(depends=["a", "b"])
    cancelled = lifecycle.cancel(doc, by="server", now=NOW, reason="dependency a failed")
    revived = lifecycle.revive(cancelled, dependency="a", completed={"b"}, by="m", now=NOW)
    assert revived["status"] == "waiting" and revived["depends"] == ["a"]
    with pytest.raises(Conflict):
        lifecycle.revive(cancelled, dependency="b", completed=set(), by="m", now=NOW)
    by_hand = lifecycle.cancel(doc, by="m", now=NOW)
    with pytest.raises(Conflict):
        lifecycle.revive(by_hand, dependency="a", completed=set(), by="m", now=NOW)


@pytest.mark.parametrize("until, retried", [(None, True), (NOW + 10, True), (NOW + 9, False)])
def test_no_retry_would_start_after_until(until, retried):
    retry = {"retries": 3, "wait": 10.0, "backoff": "constant", "max_wait": None, "until": until}
    doc = lifecycle.claim(job(retry=retry), worker_id="w", user="u", now=NOW, lease_seconds=30)
    failed = lifecycle.fail(doc, error="x", by="w", now=NOW, lease_token=doc["lease"]["token"])
    assert (failed["status"] == "waiting") is retried
