"""Job documents stay bounded (livejobs.jobs.bounds) and schedules that never fire or fire too
often are refused (livejobs.jobs.schedule), as pure functions."""

from __future__ import annotations

import msgspec
import pytest

from livejobs.errors import Invalid
from livejobs.jobs import bounds, lifecycle, schedule
from livejobs.jobs.model import blank_job

NOW = 1_000.0
LIMITS = bounds.DocLimits(log_entries=100, log_entry_bytes=500, error_bytes=1000)


def test_ten_thousand_log_calls_keep_creation_a_note_and_the_newest() -> None:
    doc = blank_job("t", None, owner="u", now=NOW)
    bounds.append_log(doc, now=NOW, by="u", message="created")
    for n in range(10_000):
        doc = lifecycle.log(
            doc, lease_token=None, message=f"m{n}" * 200, level="info", data=list(range(n % 300)),
            by="u", now=NOW + n, limits=LIMITS,
        )  # fmt: skip
    log = doc["log"]
    assert len(log) == 100 and log[0]["message"] == "created"
    assert log[1]["data"] == {"dropped": 10_000 - 98} and log[-1]["message"].startswith("m9999")
    for entry in log:
        size = len(entry["message"]) + len(msgspec.json.encode(entry["data"]))
        assert size <= LIMITS.log_entry_bytes + 20
    assert "truncated" in log[-1]["message"]


def test_a_huge_error_is_cut_keeping_the_end_of_its_traceback() -> None:
    error = {"message": "m" * 50_000, "type": "Boom", "traceback": "t" * 50_000 + "\nBoom: end"}
    cut = bounds.clip_error(error, 1000)
    assert len(msgspec.json.encode(cut)) <= 1000
    assert cut["type"] == "Boom" and cut["traceback"].endswith("Boom: end")
    assert "truncated" in cut["message"] and "truncated" in cut["traceback"]
    assert "truncated" in bounds.clip_error(["x" * 5000], 1000)
    assert bounds.clip_error({"message": "small"}, 1000) == {"message": "small"}


@pytest.mark.parametrize(
    ("repeat", "why"),
    [
        ({"cron": "0 0 31 2 *"}, "never fires"),
        ({"cron": "0 0 30 2 *", "tz": "Europe/Paris"}, "never fires"),
        ({"cron": "* * * * *"}, "fires every 60s"),
        ({"cron": "0,1 * * * *"}, "fires every 60s"),
        ({"every": 30}, "at most once per 120s"),
    ],
)
def test_a_schedule_that_never_fires_or_fires_too_often_is_invalid(repeat, why) -> None:
    with pytest.raises(Invalid, match=why):
        schedule.validate(repeat, now=NOW, min_seconds=120)


def test_a_schedule_within_the_floor_is_valid() -> None:
    for repeat in ({"cron": "0 0 29 2 *"}, {"every": 120}, {"cron": "*/5 * * * *"}):  # 29 Feb
        assert schedule.validate(repeat, now=NOW, min_seconds=120) is None, repeat


def test_failed_attempts_are_still_counted_once_a_job_keeps_only_its_newest_failures() -> None:
    from livejobs.runtime.metrics import Metrics
    from livejobs.store.base import Change

    metrics = Metrics()
    doc = blank_job("t", None, owner="u", now=NOW)
    doc.update(status="running", retry={**doc["retry"], "retries": 100})
    metrics.on_change(Change("insert", doc["id"], doc))
    for n in range(bounds.MAX_FAILURES + 5):
        doc = {**doc, "lease": {"worker": "w", "token": "k", "expires": NOW + n}}
        doc = lifecycle.fail(doc, error="boom", by="w", now=NOW + n)
        metrics.on_change(Change("update", doc["id"], doc))
        doc = {**doc, "status": "running"}
    assert len(doc["failures"]) == bounds.MAX_FAILURES
    assert metrics.attempts_failed.values == {"t": bounds.MAX_FAILURES + 5}
