"""Pure transitions: document in, document out, illegal moves refused."""

from __future__ import annotations

import pytest

from livejobs.errors import Conflict, Forbidden, Invalid
from livejobs.jobs import bounds, lifecycle, repeats
from livejobs.jobs.model import blank_job

NOW = 1_000.0


def job(**fields):
    doc = blank_job("t", {"x": 1}, owner="u", now=NOW)
    doc.update(fields)
    return lifecycle.settle(doc, NOW, None)


def running(**fields):
    return lifecycle.claim(job(**fields), worker_id="w", user="u", now=NOW, lease_seconds=30)


def test_claim_leases_counts_the_attempt_and_bumps_the_version():
    doc = running()
    assert doc["status"] == "running" and doc["attempts"] == 1 and doc["version"] == 2
    assert doc["lease"]["worker"] == "w" and doc["lease"]["expires"] == NOW + 30
    assert doc["due"] == NOW + 30 and doc["log"][-1]["by"] == "w"


def test_claim_only_from_ready():
    with pytest.raises(Conflict):
        lifecycle.claim(running(), worker_id="w", user="u", now=NOW, lease_seconds=30)


def test_complete_needs_the_current_lease():
    doc = running()
    with pytest.raises(Forbidden):
        lifecycle.complete(doc, lease_token="other", result=1, by="w", now=NOW, default_retain=None)
    done = lifecycle.complete(
        doc, lease_token=doc["lease"]["token"], result=1, by="w", now=NOW + 1, default_retain=60
    )
    assert done["status"] == "completed" and done["result"] == 1 and done["lease"] is None
    assert done["due"] == NOW + 61
    with pytest.raises(Conflict):
        lifecycle.complete(
            done, lease_token=doc["lease"]["token"], result=2, by="w", now=NOW, default_retain=None
        )


def test_fail_retries_with_backoff_then_fails():
    doc = running(retry={"retries": 2, "wait": 5.0, "backoff": "exponential", "max_wait": 8.0})
    first = lifecycle.fail(doc, error="e1", by="w", now=NOW, lease_token=doc["lease"]["token"])
    assert first["status"] == "waiting" and first["after"] == NOW + 5
    second_run = lifecycle.claim(
        lifecycle.promote(first, now=NOW + 5),
        worker_id="w",
        user="u",
        now=NOW + 5,
        lease_seconds=30,
    )
    second = lifecycle.fail(
        second_run, error="e2", by="w", now=NOW + 5, lease_token=second_run["lease"]["token"]
    )
    assert second["after"] == NOW + 5 + 8  # 10, capped by max_wait
    third_run = lifecycle.claim(
        lifecycle.promote(second, now=NOW + 13),
        worker_id="w",
        user="u",
        now=NOW + 13,
        lease_seconds=30,
    )
    third = lifecycle.fail(
        third_run, error="e3", by="w", now=NOW + 13, lease_token=third_run["lease"]["token"]
    )
    assert third["status"] == "failed" and [f["error"] for f in third["failures"]] == [
        "e1",
        "e2",
        "e3",
    ]


def test_fatal_skips_retries():
    doc = running(retry={"retries": 9, "wait": 0.0, "backoff": "constant", "max_wait": None})
    failed = lifecycle.fail(
        doc, error="bad", by="w", now=NOW, fatal=True, lease_token=doc["lease"]["token"]
    )
    assert failed["status"] == "failed" and failed["reason"] == "bad"


@pytest.mark.parametrize(
    "move, from_status",
    [
        (lifecycle.pause, "running"),
        (lifecycle.resume, "ready"),
        (lifecycle.restart, "ready"),
        (lifecycle.ready_now, "ready"),
    ],
)
def test_illegal_moves_raise_conflict(move, from_status):
    doc = running() if from_status == "running" else job()
    with pytest.raises(Conflict):
        move(doc, by="m", now=NOW)


def test_delayed_job_waits_and_promotes():
    doc = job(after=NOW + 10)
    assert doc["status"] == "waiting" and doc["due"] == NOW + 10
    assert lifecycle.promote(doc, now=NOW + 10)["status"] == "ready"


def test_dependencies_hold_until_met():
    doc = job(depends=["a", "b"])
    assert doc["status"] == "waiting" and doc["due"] is None
    half = lifecycle.dependencies_met(doc, completed={"a"}, now=NOW)
    assert half["status"] == "waiting" and half["depends"] == ["b"]
    assert lifecycle.dependencies_met(half, completed={"b"}, now=NOW)["status"] == "ready"


def test_snooze_gives_back_the_attempt():
    doc = running()
    snoozed = lifecycle.snooze(doc, lease_token=doc["lease"]["token"], seconds=5, by="w", now=NOW)
    assert (
        snoozed["status"] == "waiting" and snoozed["attempts"] == 0 and snoozed["after"] == NOW + 5
    )


def test_repeat_makes_the_next_run_until_times():
    doc = job(repeat={"every": 60.0, "cron": None, "tz": None, "times": 2, "until": None, "run": 1})
    nxt = repeats.next_repeat(doc, now=NOW, new_id="n2")
    assert nxt["id"] == "n2" and nxt["repeat"]["run"] == 2 and nxt["after"] == NOW + 60
    assert repeats.next_repeat(nxt, now=NOW + 60, new_id="n3") is None


def test_log_keeps_the_first_entry_and_the_newest():
    doc = job()
    for i in range(bounds.MAX_LOG_ENTRIES + 10):
        lifecycle.append_log(doc, now=NOW, by="u", message=str(i))
    assert len(doc["log"]) == bounds.MAX_LOG_ENTRIES
    assert doc["log"][-1]["message"] == str(bounds.MAX_LOG_ENTRIES + 9)


def test_update_data_by_the_lease_holder_replaces_or_merges():
    doc = running()
    token = doc["lease"]["token"]
    merged = lifecycle.update_data(doc, lease_token=token, data={"y": 2}, merge=True, now=NOW + 1)
    assert merged["data"] == {"x": 1, "y": 2} and merged["version"] == doc["version"] + 1
    assert doc["data"] == {"x": 1}  # the input is not touched
    replaced = lifecycle.update_data(doc, lease_token=token, data=[3], merge=False, now=NOW)
    assert replaced["data"] == [3]
    with pytest.raises(Forbidden):
        lifecycle.update_data(doc, lease_token="other", data=1, merge=False, now=NOW)
    with pytest.raises(Invalid):
        lifecycle.update_data(doc, lease_token=token, data=[1], merge=True, now=NOW)
    with pytest.raises(Conflict):
        lifecycle.update_data(job(), lease_token=token, data=1, merge=False, now=NOW)


def test_repeat_every_counts_from_each_finish_unless_fixed():
    """``every`` alone counts from the finish (job-collection's ``wait``: a 25 s run of a
    60 s schedule starts the next 85 s after the last); ``fixed`` keeps the steps of the
    first run's time (BullMQ's ``every``), skipping the steps a late finish passed."""
    rule = {"every": 60.0, "cron": None, "tz": None, "times": None, "until": None, "run": 1}
    drifting = repeats.next_repeat(job(after=NOW, repeat=rule), now=NOW + 25, new_id="a")
    assert drifting is not None and drifting["after"] == NOW + 85
    fixed = job(after=NOW, repeat={**rule, "fixed": True})
    steps = [repeats.next_repeat(fixed, now=NOW + d, new_id="b") for d in (0, 25, 60, 130)]
    assert [s["after"] - NOW for s in steps if s is not None] == [60, 60, 120, 180]
    early = repeats.next_repeat(fixed, now=NOW - 10, new_id="c")  # made ready before its time
    assert early is not None and early["after"] == NOW + 60


def test_fixed_steps_keep_their_grid_through_a_retry():
    """A retry's backoff moves a run's ``after``; the steps stay on the first run's grid."""
    rule = {"every": 60.0, "cron": None, "tz": None, "times": None, "until": None, "run": 1}
    retried = job(after=NOW + 7, repeat={**rule, "fixed": True, "anchor": NOW})
    later = repeats.next_repeat(retried, now=NOW + 10, new_id="a")
    assert later is not None and later["after"] == NOW + 60
    following = repeats.next_repeat(later, now=NOW + 61, new_id="b")
    assert following is not None and following["after"] == NOW + 120
