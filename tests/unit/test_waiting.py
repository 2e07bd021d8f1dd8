"""Waiting claims (``jobs.claim`` with ``wait``): a ready job wakes one, and a wake its claim
did not use goes on to the next, so that waking one never strands a job."""

from __future__ import annotations

from livejobs.runtime.waiting import Waiting


async def test_a_ready_job_wakes_the_longest_waiting_claim_only() -> None:
    waiting = Waiting()
    with waiting.watching(["a"]) as first, waiting.watching(["a", "b"]) as second:
        waiting.wake("a")
        assert first.event.is_set() and not second.event.is_set()
        waiting.wake("b", 5)  # more jobs than claims: every claim of the type
        assert second.event.is_set()
        assert not waiting  # woken claims wait no more until they arm again
        first.arm()
        assert not first.event.is_set() and waiting.types() == ["a"]
    assert not waiting


async def test_a_claim_that_leaves_with_an_unused_wake_passes_it_on() -> None:
    waiting = Waiting()
    leaving = waiting.watching(["a"])
    woken = leaving.__enter__()
    with waiting.watching(["a"]) as staying:
        waiting.wake("a")  # the longest waiting claim...
        assert woken.event.is_set() and not staying.event.is_set()
        leaving.__exit__(None, None, None)  # ...left as it was woken (its wait timed out)
        assert staying.event.is_set()


async def test_a_claim_that_used_its_wake_passes_nothing_on() -> None:
    waiting = Waiting()
    leaving = waiting.watching(["a"])
    woken = leaving.__enter__()
    with waiting.watching(["a"]) as staying:
        waiting.wake("a")
        woken.arm()  # it claims and finds its job
        leaving.__exit__(None, None, None)
        assert not staying.event.is_set()


async def test_a_claim_failing_after_its_wake_passes_it_on() -> None:
    waiting = Waiting()
    failing = waiting.watching(["a"])
    woken = failing.__enter__()
    with waiting.watching(["a"]) as staying:
        waiting.wake("a")
        woken.arm()  # it claims, and is cancelled before that claim committed
        error = RuntimeError("cancelled")
        failing.__exit__(RuntimeError, error, None)
        assert staying.event.is_set()
