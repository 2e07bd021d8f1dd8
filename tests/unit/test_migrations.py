"""The one decision every store makes at open: which migrations to run, or refuse."""

from __future__ import annotations

import pytest

from livejobs.errors import StoreRefused
from livejobs.store.migrations import Migration, plan
from livejobs.store.mongo import migrations as mongo_migrations
from livejobs.store.sqlite import migrations as sqlite_migrations

STEPS = [Migration(1, "one"), Migration(2, "two"), Migration(3, "three")]


def test_a_store_gets_the_migrations_after_its_version_in_order() -> None:
    assert plan(0, STEPS, "db") == STEPS  # empty, or 0.1.0 (no version recorded)
    assert plan(1, STEPS, "db") == STEPS[1:]
    assert plan(3, STEPS, "db") == []


def test_a_store_of_a_newer_livejobs_is_refused_naming_both_versions() -> None:
    with pytest.raises(StoreRefused) as refused:
        plan(4, STEPS, "the SQLite database 'x.db'")
    message = refused.value.message
    assert "'x.db'" in message and "version 4" in message and "up to 3" in message
    assert "Upgrade livejobs" in message


def test_migrations_must_be_numbered_without_gaps() -> None:
    with pytest.raises(ValueError):
        plan(0, [Migration(1, "one"), Migration(3, "three")], "db")


def test_every_backend_knows_the_same_versions() -> None:
    """A migration that changes what is stored is written for every backend at once."""
    sqlite = [m.version for m in sqlite_migrations.MIGRATIONS]
    mongo = [m.version for m in mongo_migrations.MIGRATIONS]
    assert sqlite == mongo == list(range(1, sqlite_migrations.NEWEST + 1))
