"""Schema versions, shared by every store: which numbered migrations a store still needs.

Each backend keeps its own list of migrations (``sqlite.migrations``, ``mongo.migrations``,
``postgres.migrations``), numbered from 1 with no gap, and records in the store itself the
number of the last one applied (0 for a store that records none: empty, or written by release
0.1.0, whose schema migration 1 recreates without harm). At open, the backend reads that
number and asks ``plan`` what to run; ``plan`` alone decides, so every backend refuses the
same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from livejobs.errors import StoreRefused


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of a backend's schema: ``version`` is the number it brings the store to."""

    version: int
    summary: str


def newest(migrations: Sequence[Migration]) -> int:
    return migrations[-1].version if migrations else 0


def plan(recorded: int, migrations: Sequence[Migration], where: str) -> list[Migration]:
    """The migrations to apply, in order, to a store at version ``recorded``; a store newer
    than the newest migration known here is refused (an older livejobs must not write it)."""
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, ... without gaps, not {numbers}")
    known = newest(migrations)
    if recorded > known:
        raise StoreRefused(
            f"{where} has schema version {recorded}, but this livejobs knows versions up to "
            f"{known} only: it was written by a newer livejobs. Upgrade livejobs to use it."
        )
    if recorded < 0:
        raise StoreRefused(f"{where} records a schema version of {recorded}, which is not one")
    return list(migrations[recorded:])


def describe(pending: Sequence[Migration]) -> str:
    """One line per migration, for ``livejobs migrate``."""
    return "\n".join(f"  {m.version}: {m.summary}" for m in pending)
