"""Job ids and lease tokens: the right shape, and never handed out twice."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

from livejobs.jobs.model import new_id, random_hex


def test_random_hex_has_two_digits_per_byte_and_does_not_repeat():
    drawn = [random_hex(16) for _ in range(5000)]  # crosses many 4 KiB refills
    assert all(re.fullmatch(r"[0-9a-f]{32}", token) for token in drawn)
    assert len(set(drawn)) == len(drawn)


def test_ids_sort_by_creation_time():
    first, second = new_id(), new_id()
    assert len(first) == 32 and first[:12] <= second[:12]


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
