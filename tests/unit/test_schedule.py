"""Repeat schedules: intervals, cron in a time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from livejobs.errors import Invalid
from livejobs.jobs import schedule

PARIS = ZoneInfo("Europe/Paris")


def at(*args: int) -> float:
    return datetime(*args, tzinfo=PARIS).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).strftime("%m-%d %H:%M %z")


def runs(cron: str, start: float, n: int) -> list[str]:
    out, t = [], start
    for _ in range(n):
        t = schedule.next_time({"cron": cron, "tz": "Europe/Paris"}, after=t)
        out.append(local(t))
    return out


def test_every_adds_the_interval():
    assert schedule.next_time({"every": 90}, after=1000.0) == 1090.0


def test_daily_cron_keeps_local_time_across_spring_forward():
    assert runs("0 9 * * *", at(2026, 3, 28, 10, 0), 3) == [
        "03-29 09:00 +0200",
        "03-30 09:00 +0200",
        "03-31 09:00 +0200",
    ]


def test_daily_cron_keeps_local_time_across_fall_back():
    assert runs("0 9 * * *", at(2026, 10, 24, 10, 0), 2) == [
        "10-25 09:00 +0100",
        "10-26 09:00 +0100",
    ]


def test_time_skipped_in_spring_runs_once_after_the_gap():
    assert runs("30 2 * * *", at(2026, 3, 29, 1, 0), 2) == [
        "03-29 03:00 +0200",
        "03-30 02:30 +0200",
    ]


def test_time_repeated_in_autumn_runs_once():
    assert runs("30 2 * * *", at(2026, 10, 25, 1, 0), 2) == [
        "10-25 02:30 +0200",
        "10-26 02:30 +0100",
    ]


def test_first_run_is_the_next_matching_time_never_now():
    now = at(2026, 5, 1, 12, 0)
    assert schedule.next_time({"cron": "0 12 * * *", "tz": "Europe/Paris"}, after=now) == at(
        2026, 5, 2, 12, 0
    )


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"every": 1, "cron": "* * * * *"},
        {"every": -1},
        {"cron": "not a cron"},
        {"cron": "* * * * *", "tz": "Mars/Olympus"},
        {"every": 5, "times": 0},
        {"cron": "* * * * *", "fixed": True},  # a cron's steps are fixed already
    ],
)
def test_invalid_specs_are_refused(spec):
    with pytest.raises(Invalid):
        schedule.validate({"every": None, "cron": None, "tz": None, "times": None, **spec})
