"""The PostgreSQL store's connections: JSONB codecs, driver errors as the server's, lost
connections dropped, and its write transactions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import msgspec

from livejobs.errors import Conflict, Invalid, Unavailable

FAILED = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
"""Every way the driver reports a failed call: refused by the database or the connection lost
(after a database restart asyncpg may raise ``InternalClientError``, a class of its own)."""


def encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def init(conn: Any) -> None:
    """JSONB in and out as Python values, encoded and decoded by msgspec."""
    await conn.set_type_codec(
        "jsonb", encoder=encode, decoder=msgspec.json.decode, schema="pg_catalog"
    )


@contextlib.contextmanager
def errors(where: str) -> Iterator[None]:
    """Driver errors as the server's: a clash is a Conflict, bad data Invalid, the rest
    Unavailable (nothing of the call was saved: its transaction was rolled back)."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"the write conflicts with a stored job: {exc.detail or exc}") from None
    except asyncpg.DataError as exc:
        raise Invalid(f"PostgreSQL cannot store this value: {exc}") from None
    except FAILED as exc:
        raise Unavailable(f"{where} failed: {exc}") from exc


class Connection(asyncpg.Connection):  # type: ignore[misc]
    """No reset query when a connection goes back to the pool (a round trip per write):
    the store keeps no session state (its LISTEN is on a connection of its own, its locks
    end with their transactions), and asyncpg still rolls back an open transaction."""

    def get_reset_query(self) -> str:
        return ""


READ_RETRIES = (0.05, 0.3, 1.0)  # pauses before each resend of a read on a lost connection


def connection_lost(exc: BaseException | None) -> bool:
    return isinstance(
        exc,
        OSError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError,
    )


@contextlib.asynccontextmanager
async def dropped_if_lost(conn: Any) -> AsyncIterator[None]:
    """A connection that failed as lost is closed, not handed back to the pool: after a
    database restart asyncpg may keep one in a state where every later call fails."""
    try:
        yield
    except BaseException as exc:
        if connection_lost(exc):
            conn.terminate()
        raise


BEGIN = "BEGIN; SET LOCAL enable_sort = off"


@contextlib.asynccontextmanager
async def transaction(conn: Any) -> AsyncIterator[None]:
    """A write transaction in which the planner avoids sorting where an index gives the
    order, set in BEGIN's own round trip. A claim locks the first ready jobs in the claim
    index's order; planned from statistics that still count a table filled since its last
    ANALYZE as empty (any fresh database, any burst), it read and sorted every ready job,
    documents included, before locking the first ten (tens of ms at 20,000 jobs, against
    a fraction of a millisecond along the index)."""
    await conn.execute(BEGIN)
    try:
        yield
    except BaseException:
        if not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


def committed_nothing(exc: BaseException) -> bool:
    """The database refused the transaction (a clash, a deadlock) or the write itself did:
    nothing of it was committed. A lost connection may have lost only the answer."""
    cause = exc.__cause__
    if isinstance(exc, Unavailable):
        return isinstance(cause, asyncpg.PostgresError) and not isinstance(
            cause, asyncpg.PostgresConnectionError | asyncpg.InterfaceError
        )
    return True


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{userinfo.partition(':')[0]}{at}{host}" if at else url
