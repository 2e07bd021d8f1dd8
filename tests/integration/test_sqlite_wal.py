"""Under steady writes the SQLite store folds its WAL back into the database and starts it over:
the file stops growing once it holds the writes between two checkpoints. (Checkpointed beside
the writer, it never caught up, and every commit appended to an ever longer file.)"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from livejobs.jobs.model import blank_job
from livejobs.store.sqlite import SQLiteStore
from livejobs.store.sqlite import batcher as sqlite


async def test_the_wal_stops_growing_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "CHECKPOINT_EVERY", 50)
    path = tmp_path / "jobs.db"
    store = SQLiteStore(str(path))
    await store.open()
    try:
        docs = [blank_job("echo", {"i": i}, owner="ann", now=1000.0 + i) for i in range(20)]
        await store.insert(docs)
        sizes = []
        for _ in range(40):
            # twenty updates committed together, a read beside them, as a busy server does
            updated = [{**doc, "version": doc["version"] + 1, "data": "x" * 500} for doc in docs]
            outcomes = await asyncio.gather(
                *(
                    store.replace(new, old["version"])
                    for new, old in zip(updated, docs, strict=True)
                ),
                store.get(docs[0]["id"]),
            )
            assert all(outcomes[:-1])
            docs = updated
            sizes.append(os.path.getsize(f"{path}-wal"))
        assert sizes[-1] > 0
        # 800 writes, a checkpoint every 50: past the first few, the file is only overwritten
        assert sizes[-1] == sizes[10], sizes
    finally:
        await store.close()
