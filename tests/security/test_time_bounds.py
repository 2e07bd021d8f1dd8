"""Times and durations a client sends are bounded at the edge, like every other field.

A job's ``after`` (and ``repeat.until``, ``retry.until``, ``repeat.every``, a debounce's
``max_wait``, a token's ``expires``) took any float: a creator could store a job to run
after 1e300, which no calendar can show, so that ``livejobs jobs show`` failed with
``OverflowError`` on the job for its readers (an admin's command broken by a creator's job).
Times are now seconds since the epoch up to the end of year 9999, durations up to ten years;
past that, ``invalid`` naming the field. A document stored before the bound still shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from livejobs.cli.watch_view import when
from livejobs.params import LAST_TIME
from livejobs_sdk.errors import CallError
from tests.servers import InProcessServer, started

TOO_LATE = 1e300
TEN_YEARS = 10 * 365 * 86400


@pytest.fixture
async def server(tmp_path):
    async with started(InProcessServer(tmp_path / "jobs.db")) as (srv,):
        yield srv


OUT_OF_RANGE: list[tuple[str, dict[str, Any], str]] = [
    ("jobs.create", {"type": "t", "after": TOO_LATE}, "after"),
    ("jobs.create", {"type": "t", "after": -TOO_LATE}, "after"),
    ("jobs.create", {"type": "t", "after": LAST_TIME + 1}, "after"),
    ("jobs.create", {"type": "t", "retry": {"retries": 1, "until": TOO_LATE}}, "until"),
    ("jobs.create", {"type": "t", "repeat": {"every": 60, "until": TOO_LATE}}, "until"),
    ("jobs.create", {"type": "t", "repeat": {"every": TOO_LATE}}, "every"),
    ("jobs.create", {"type": "t", "repeat": {"every": TEN_YEARS + 1}}, "every"),
    (
        "jobs.create",
        {"type": "t", "key": "k", "debounce": {"seconds": 1, "max_wait": TOO_LATE}},
        "max_wait",
    ),
    ("tokens.create", {"user": "admin", "expires": TOO_LATE}, "expires"),
]


async def test_times_past_any_calendar_are_refused(server: InProcessServer) -> None:
    async with server.client() as admin:
        for method, params, field in OUT_OF_RANGE:
            with pytest.raises(CallError) as refused:
                await admin.call(method, params)
            assert refused.value.code == "invalid", (method, params)
            assert field in refused.value.message, (method, params, refused.value.message)
        assert await admin.call("jobs.find", {}) == []


async def test_the_last_day_of_year_9999_is_a_time(server: InProcessServer) -> None:
    async with server.client() as admin:
        job = await admin.call("jobs.create", {"type": "t", "after": LAST_TIME})
        assert job["status"] == "waiting" and job["after"] == LAST_TIME


def test_a_time_stored_before_the_bound_still_shows() -> None:
    assert when(TOO_LATE) == "1e+300"
    assert when(-TOO_LATE) == "-1e+300"
