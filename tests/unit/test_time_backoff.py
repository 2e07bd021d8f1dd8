"""Retry back-off at its edges: many attempts of an exponential policy (retries may be up to
a million) give a finite wait, capped by ``max_wait`` and by the largest delay the server takes,
never an overflow in the failing path."""

from __future__ import annotations

import math

import pytest

from livejobs.jobs import lifecycle
from livejobs.jobs.model import blank_job

NOW = 1_000.0
TEN_YEARS = 10 * 365 * 86400.0


def failed_at_attempt(attempts: int, **policy: object) -> dict[str, object]:
    doc = blank_job("t", None, owner="u", now=NOW)
    doc["retry"] = {"retries": 1_000_000, "wait": 5.0, "backoff": "exponential", **policy}
    doc = lifecycle.claim(
        lifecycle.settle(doc, NOW, None), worker_id="w", user="u", now=NOW, lease_seconds=30
    )
    doc["attempts"] = attempts
    return lifecycle.fail(doc, error="boom", by="w", now=NOW, lease_token=doc["lease"]["token"])


@pytest.mark.parametrize("attempts", [1025, 1100, 999_999])
def test_a_late_attempt_with_max_wait_waits_max_wait(attempts):
    doc = failed_at_attempt(attempts, max_wait=60.0)
    assert doc["status"] == "waiting" and doc["after"] == NOW + 60


@pytest.mark.parametrize("attempts", [64, 1025, 999_999])
def test_a_late_attempt_without_max_wait_waits_a_finite_bounded_time(attempts):
    doc = failed_at_attempt(attempts, max_wait=None)
    assert doc["status"] == "waiting"
    assert math.isfinite(doc["after"]) and doc["after"] <= NOW + TEN_YEARS


def test_early_attempts_double_as_before():
    assert [failed_at_attempt(n, max_wait=None)["after"] - NOW for n in (1, 2, 3, 4)] == [
        5.0, 10.0, 20.0, 40.0,
    ]  # fmt: skip
