"""Job ids and lease tokens: the right shape, and never handed out twice."""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from livejobs.jobs import model
from livejobs.jobs.model import new_id, random_hex


def test_random_hex_has_two_digits_per_byte_and_does_not_repeat():
    drawn = [random_hex(16) for _ in range(5000)]  # crosses many 4 KiB refills
    assert all(re.fullmatch(r"[0-9a-f]{32}", token) for token in drawn)
    assert len(set(drawn)) == len(drawn)


def test_ids_sort_by_creation_time():
    first, second = new_id(), new_id()
    assert len(first) == 32 and first[:12] <= second[:12]


def test_ids_made_in_turn_sort_in_turn_within_a_millisecond_and_back_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jobs whose creation times tie are claimed by id: ids a thread makes in turn must sort
    in turn, in one millisecond and when the clock steps back."""
    now = [1_800_000_000_000_000_000]
    monkeypatch.setattr(time, "time_ns", lambda: now[0])
    made = [new_id() for _ in range(1000)]  # all in one millisecond
    now[0] -= 5_000_000_000  # the clock steps back five seconds
    made += [new_id() for _ in range(10)]
    now[0] += 60_000_000_000
    made.append(new_id())
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)
    assert made[-1][:12] == format(now[0] // 1_000_000, "012x")


def test_threads_making_ids_in_one_millisecond_never_share_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_800_000_000_000_000_000)
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [new_id() for _ in range(2000)], range(8)))
    made = [i for batch in batches for i in batch]
    assert len(set(made)) == len(made)


def test_a_forked_child_does_not_follow_its_parents_last_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_800_000_000_000_000_000)
    new_id()  # the parent's last id, in the millisecond the child is born in
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child != new_id() and model._last_id.ms != -1


def test_threads_never_share_random_bytes():
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [random_hex(8) for _ in range(2000)], range(8)))
    drawn = [token for batch in batches for token in batch]
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_does_not_repeat_its_parents_bytes():
    random_hex(8)  # the parent's pool holds undrawn bytes when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_hex(8).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child != random_hex(8)
