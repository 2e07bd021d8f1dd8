"""Flow admission, decided once (``livejobs.jobs.rules``) for every store."""

from __future__ import annotations

from livejobs.jobs import rules
from livejobs.jobs.rules import TypeRules


def test_room_without_rules_or_counts_is_what_is_wanted() -> None:
    assert rules.room(None, 5) == 5
    assert rules.room(TypeRules(), 5) == 5
    assert rules.room(None, -1) == 0


def test_a_paused_type_has_no_room_and_needs_no_counts() -> None:
    paused = TypeRules(paused=True, concurrency=3)
    assert rules.room(paused, 5) == 0
    assert not rules.must_count(paused)
    assert not rules.must_count(None)
    assert rules.must_count(TypeRules(concurrency=3))


def test_concurrency_counts_running_jobs_and_places_held() -> None:
    limit = TypeRules(concurrency=4)
    assert rules.room(limit, 10, running=1) == 3
    assert rules.room(limit, 10, running=1, held=2) == 1
    assert rules.room(limit, 10, running=5) == 0  # lowered below what runs: none, not negative


def test_rate_counts_recent_starts_and_the_tighter_rule_wins() -> None:
    limit = TypeRules(rate_limit=3, rate_per=10.0, concurrency=5)
    assert rules.room(limit, 10, recent=1) == 2
    assert rules.room(limit, 10, running=4, recent=0) == 1
    assert rules.room(limit, 2, recent=0) == 2


def test_the_window_and_its_opening() -> None:
    limit = TypeRules(rate_limit=2, rate_per=10.0)
    assert rules.window_start(limit, 100.0) == 90.0
    assert rules.deciding_start(limit) == 1  # the second latest start must leave the window
    assert rules.opening(limit, 95.0) == 105.0
    assert rules.opening(limit, None) is None  # fewer starts than the limit: room now
    assert rules.window_start(TypeRules(concurrency=1), 100.0) is None


def test_opening_of_a_list_of_starts_agrees_with_the_sql_stores() -> None:
    """The SQL stores read the deciding start with ORDER BY at DESC OFFSET rate_limit - 1."""
    limit = TypeRules(rate_limit=2, rate_per=10.0)
    assert rules.opening_of(limit, [80.0, 93.0, 97.0, 91.0], now=100.0) == 103.0
    assert rules.opening_of(limit, [80.0, 97.0], now=100.0) is None
    assert rules.opening_of(TypeRules(concurrency=1), [99.0], now=100.0) is None


def test_a_record_keeps_its_defaults_and_a_newer_servers_rules_are_left_out() -> None:
    rules = TypeRules(time_limit=30.0, retry={"retries": 2})
    record = rules.to_dict("pdf")
    assert record["time_limit"] == 30.0 and "retain" not in record
    assert TypeRules.from_record(record) == rules
    assert rules.stored and rules.defaults and not rules.limited
    newer = {**record, "some_future_rule": 5}
    assert TypeRules.from_record(newer) == rules
