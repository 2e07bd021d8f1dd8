"""The job field ``trace`` (a W3C trace context): declared once in the model, checked and bounded
at create, and not inherited by a repeat's next run or a rerun, which no request created."""

from __future__ import annotations

import pytest

from livejobs.errors import Invalid
from livejobs.jobs import bounds, repeats
from livejobs.jobs.model import blank_job
from livejobs.params import CreateJob, decode_params

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def create(trace: object) -> CreateJob:
    return decode_params({"type": "t", "trace": trace}, CreateJob)


def test_a_new_job_has_no_trace_until_given() -> None:
    assert blank_job("t", None, owner="u", now=0)["trace"] is None
    assert decode_params({"type": "t"}, CreateJob).trace is None


@pytest.mark.parametrize(
    "given",
    [
        {"traceparent": PARENT},
        {"traceparent": PARENT, "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
        {"traceparent": "cc-" + PARENT[3:] + "-what-a-later-version-adds"},
        {"traceparent": PARENT, "tracestate": "k=" + "v" * (bounds.TRACESTATE_CHARS - 2)},
    ],
)
def test_a_w3c_trace_context_is_taken(given: dict[str, str]) -> None:
    spec = create(given)
    assert spec.trace is not None and spec.trace.traceparent == given["traceparent"]


@pytest.mark.parametrize(
    "given",
    [
        "00-abc",  # not an object
        {},
        {"traceparent": "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"},  # upper case
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"},  # no flags
        {"traceparent": PARENT + "-" + "x" * bounds.TRACEPARENT_CHARS},
        {"traceparent": PARENT, "tracestate": "k=" + "v" * bounds.TRACESTATE_CHARS},
        {"traceparent": PARENT, "tracestate": "k=v\n"},
        {"traceparent": PARENT + "\n"},
        {"traceparent": PARENT, "baggage": "user=ann"},
    ],
)
def test_anything_else_is_refused_naming_the_field(given: object) -> None:
    with pytest.raises(Invalid, match="trace"):
        create(given)


def test_a_repeat_and_a_rerun_start_without_their_creators_trace() -> None:
    every = {"every": 60.0, "cron": None, "tz": None, "times": 3, "until": None, "run": 1}
    doc = {**blank_job("t", None, owner="u", now=0), "trace": {"traceparent": PARENT}}
    doc["repeat"] = every
    following = repeats.next_repeat(doc, now=10.0, new_id="n2")
    assert following is not None and following["trace"] is None
    completed = {**doc, "status": "completed", "repeat": None}
    assert repeats.rerun_copy(completed, by="u", now=10.0, new_id="n3")["trace"] is None
