"""A crowd of small writes (many workers reporting at once) runs in the event loop as a few
commits of at most ``INLINE_WEIGHT``, never as one batch on the writer's thread; a batch
create heavier than that still goes to the thread (docs/performance.md)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from livejobs.jobs.model import blank_job
from livejobs.store.sqlite import SQLiteStore, peers, search
from livejobs.store.sqlite import batcher as sqlite


async def test_small_writes_queued_together_commit_inline_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(str(tmp_path / "jobs.db"))
    await store.open()
    on_thread: list[int] = []
    inline: list[int] = []
    run_batch = sqlite.ops.run_batch

    def counted_run_batch(conn: Any, work: list[Any]) -> Any:
        calls = [w for w in work if w[0] not in (search.flush, peers.log_changes)]
        if calls:  # not the search index's own pass over the jobs inserted before
            in_loop = threading.current_thread() is threading.main_thread()
            (inline if in_loop else on_thread).append(len(calls))
        return run_batch(conn, work)

    try:
        docs = [blank_job("echo", {"i": i}, owner="ann", now=1000.0 + i) for i in range(200)]
        await store.insert(docs)
        monkeypatch.setattr(sqlite.ops, "run_batch", counted_run_batch)
        updated = [{**doc, "version": doc["version"] + 1, "data": {"done": 1}} for doc in docs]
        outcomes = await asyncio.gather(
            *(store.replace(new, old["version"]) for new, old in zip(updated, docs, strict=True))
        )
        assert all(outcomes)
        assert on_thread == []
        assert len(inline) >= 200 // sqlite.INLINE_WEIGHT
        assert max(inline) <= sqlite.INLINE_WEIGHT
        assert sum(inline) == 200

        inline.clear()
        more = [blank_job("echo", {"i": i}, owner="ann", now=2000.0) for i in range(100)]
        await store.insert(more)
        assert on_thread == [1] and inline == []  # the batch create: one call, on the thread
        stored = await store.get(docs[-1]["id"])
        assert stored is not None and stored["data"] == {"done": 1}
    finally:
        await store.close()
