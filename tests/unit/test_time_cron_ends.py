"""A cron limited to a year (``0 0 1 1 * 0 2027``: seconds and year fields) fires until its
last date; after that the schedule ends like one whose ``times`` ran out, never an error in
the completion that follows the last run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from livejobs.jobs import lifecycle, repeats, schedule
from livejobs.jobs.model import blank_job

PARIS = ZoneInfo("Europe/Paris")
LAST = datetime(2027, 1, 1, tzinfo=PARIS).timestamp()
ONCE = {"cron": "0 0 1 1 * 0 2027", "tz": "Europe/Paris", "times": None, "until": None}


def test_the_last_date_of_a_year_limited_cron_is_found_and_accepted():
    before = datetime(2026, 6, 1, tzinfo=PARIS).timestamp()
    schedule.validate(ONCE, now=before, min_seconds=1.0)
    assert schedule.next_time(ONCE, after=before) == LAST


def test_after_its_last_date_the_schedule_ends():
    doc = blank_job("yearly", None, owner="u", now=LAST - 60)
    doc.update(repeat={**ONCE, "run": 1}, after=LAST)
    doc = lifecycle.settle(doc, LAST, None)
    doc = lifecycle.claim(doc, worker_id="w", user="u", now=LAST, lease_seconds=30)
    done = lifecycle.complete(
        doc, lease_token=doc["lease"]["token"], result=None, by="w", now=LAST + 5,
        default_retain=None,
    )  # fmt: skip
    assert repeats.next_repeat(done, now=LAST + 5, new_id="b") is None
