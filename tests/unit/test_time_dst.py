"""Cron repeats across daylight-saving changes, whenever the previous run finished: a time of
day runs once on the day its hour repeats and at the end of the gap on the day it is skipped;
a cron that fires every hour keeps firing every real hour through both changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from livejobs.errors import Invalid
from livejobs.jobs import schedule

PARIS = ZoneInfo("Europe/Paris")
HOUR = 3600.0


def at(*args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=PARIS, fold=fold).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).strftime("%m-%d %H:%M %z")


def chain(cron: str, start: float, n: int, *, runs_for: float = 0.0) -> list[str]:
    """The next ``n`` runs, each computed when the previous one finished ``runs_for`` seconds
    after its time (as a server computes them)."""
    out, t = [], start
    for _ in range(n):
        t = schedule.next_time({"cron": cron, "tz": "Europe/Paris"}, after=t + runs_for)
        out.append(local(t))
    return out


@pytest.mark.parametrize("runs_for", [0.0, 1.0, 600.0, 1800.0])
def test_a_time_in_the_repeated_hour_runs_once_however_long_the_run_took(runs_for):
    assert chain("30 2 * * *", at(2026, 10, 24, 12, 0), 3, runs_for=runs_for) == [
        "10-25 02:30 +0200",
        "10-26 02:30 +0100",
        "10-27 02:30 +0100",
    ]


@pytest.mark.parametrize("runs_for", [0.0, 1.0, 1500.0])
def test_a_time_in_the_skipped_hour_runs_once_at_the_end_of_the_gap(runs_for):
    assert chain("30 2 * * *", at(2026, 3, 28, 12, 0), 3, runs_for=runs_for) == [
        "03-29 03:00 +0200",
        "03-30 02:30 +0200",
        "03-31 02:30 +0200",
    ]


def test_several_times_in_the_skipped_hour_run_once_at_its_end():
    assert chain("0,30 2 * * *", at(2026, 3, 28, 12, 0), 3) == [
        "03-29 03:00 +0200",
        "03-30 02:00 +0200",
        "03-30 02:30 +0200",
    ]


@pytest.mark.parametrize("runs_for", [0.0, 5.0, 900.0])
def test_an_hourly_cron_runs_every_real_hour_through_the_repeated_hour(runs_for):
    start = at(2026, 10, 25, 0, 30)
    times = []
    t = start
    for _ in range(5):
        t = schedule.next_time({"cron": "0 * * * *", "tz": "Europe/Paris"}, after=t + runs_for)
        times.append(t)
    assert [local(t) for t in times] == [
        "10-25 01:00 +0200",
        "10-25 02:00 +0200",
        "10-25 02:00 +0100",
        "10-25 03:00 +0100",
        "10-25 04:00 +0100",
    ]
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {HOUR}


def test_an_hourly_cron_runs_every_real_hour_through_the_skipped_hour():
    assert chain("30 * * * *", at(2026, 3, 29, 0, 45), 3, runs_for=60) == [
        "03-29 01:30 +0100",
        "03-29 03:30 +0200",
        "03-29 04:30 +0200",
    ]


def test_a_quarter_hourly_cron_keeps_its_pace_through_both_changes():
    autumn = chain("*/15 * * * *", at(2026, 10, 25, 1, 50), 10, runs_for=30)
    assert autumn[:9] == [
        "10-25 02:00 +0200", "10-25 02:15 +0200", "10-25 02:30 +0200", "10-25 02:45 +0200",
        "10-25 02:00 +0100", "10-25 02:15 +0100", "10-25 02:30 +0100", "10-25 02:45 +0100",
        "10-25 03:00 +0100",
    ]  # fmt: skip
    assert chain("*/20 * * * *", at(2026, 3, 29, 1, 30), 3) == [
        "03-29 01:40 +0100",
        "03-29 03:00 +0200",
        "03-29 03:20 +0200",
    ]


def test_an_every_two_hours_cron_runs_its_repeated_time_once():
    assert chain("0 */2 * * *", at(2026, 10, 25, 1, 0), 2, runs_for=120) == [
        "10-25 02:00 +0200",
        "10-25 04:00 +0100",
    ]


def test_a_floor_check_near_a_change_does_not_see_the_gap_as_a_fast_cron():
    """``30 * * * *`` fires once an hour, also on the day the clocks go forward, so a floor of
    an hour accepts it (and one of two hours does not)."""
    spec, now = {"cron": "30 * * * *", "tz": "Europe/Paris"}, at(2026, 3, 29, 0, 45)
    assert schedule.validate(spec, now=now, min_seconds=HOUR) is None
    assert chain("30 * * * *", now, 3) == [
        "03-29 01:30 +0100",
        "03-29 03:30 +0200",
        "03-29 04:30 +0200",
    ]
    with pytest.raises(Invalid, match="at most once per"):
        schedule.validate(spec, now=now, min_seconds=2 * HOUR)


def test_a_cron_that_never_fires_is_still_refused():
    with pytest.raises(Invalid, match="never fires"):
        schedule.validate({"cron": "0 0 31 2 *", "tz": "Europe/Paris"}, now=at(2026, 1, 1, 0, 0))
