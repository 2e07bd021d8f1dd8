"""Several server processes on one SQLite file: each store's feed also carries the others' commits.

Every write batch logs its changes (origin, op, id) in the ``changes`` table, in the batch's own
transaction. After the commit the store sends one tiny datagram on the loopback to each other
process registered in ``peers``; a process that receives one reads the log rows it has not seen,
loads the current documents and publishes them on its own feed. Pushed, never polled: a
process that hears nothing reads nothing, and a lone server logs nothing (one indexed lookup
of the ``peers`` table per batch).

The log is read back on the writer's connection, between two batches, never beside one: a
catch-up then sits at one point in this store's commit order, so the feed can never publish a
document older than one it already published.

The processes must run on one host, as SQLite's WAL requires anyway (its index is shared
memory), and share its process and network namespaces: dead peers are found by pid, and peers
are reached on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from livejobs.store.base import Change
from livejobs.store.sqlite.ops import Changes
from livejobs.store.sqlite.sql import decode, encode

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY,
    origin INT NOT NULL,
    op TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS peers (
    origin INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    port INT NOT NULL,
    pid INT NOT NULL
);
"""

#: log rows kept: a peer that falls further behind than this publishes a reset
KEEP = 50_000
#: rows this store logs between two prunes of the log
PRUNE_EVERY = 5_000
#: log rows read per catch-up on the writer's thread (another follows at once if there are more)
CATCH_UP_ROWS = 2_000

LOOPBACK = "127.0.0.1"
CHANGED, HELLO, BYE = b"c", b"h", b"b"
RESET = Change("reset", "")

_ANYONE_ELSE = "SELECT 1 FROM peers WHERE origin != ? LIMIT 1"
_LOG = "INSERT INTO changes (origin, op, id) VALUES (?, ?, ?)"
_SINCE = "SELECT seq, op, id FROM changes WHERE seq > ? AND origin != ? ORDER BY seq LIMIT ?"
_DOCS = "SELECT id, doc FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
_ENDS = "SELECT (SELECT min(seq) FROM changes), (SELECT max(seq) FROM changes)"


# -- operations in the batch's transaction (called as ``function(conn, changes, *args)``) -----


def log_changes(conn: sqlite3.Connection, changes: Changes, origin: int) -> bool:
    """The batch's last operation: it sees every change of the batch and logs them; returns
    whether it did.

    With no other process registered, nothing is logged: one that registers later does so in a
    write transaction, so either this batch sees its row, or this batch committed before that
    process began reading. A batch whose changes the others would never hear of must not
    commit: on failure this ends the transaction itself, so that ``run_batch`` fails every call
    of the batch."""
    if not changes:
        return False
    try:
        if conn.execute(_ANYONE_ELSE, (origin,)).fetchone() is None:
            return False
        conn.executemany(_LOG, [(origin, op, change_id) for op, change_id, _ in changes])
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return True


def prune_log(conn: sqlite3.Connection, changes: Changes) -> None:
    """Keep the last ``KEEP`` rows. The newest row always stays, so sequence numbers (SQLite's
    next rowid is the largest one plus one) only grow, without gaps."""
    conn.execute("DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - ?", (KEEP,))


# -- membership ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Membership:
    origin: int
    cursor: int
    ports: frozenset[int]


def register(conn: sqlite3.Connection, port: int) -> Membership:
    """Join the file's peers (dropping rows of this host's dead processes) and start reading the
    log after its last row: in one transaction, so no commit falls between the two."""
    host, pid = socket.gethostname(), os.getpid()
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute("SELECT origin, pid FROM peers WHERE host = ?", (host,)).fetchall()
        dead = [(origin,) for origin, other in rows if not _alive(other)]
        conn.executemany("DELETE FROM peers WHERE origin = ?", dead)
        origin = conn.execute(
            "INSERT INTO peers (host, port, pid) VALUES (?, ?, ?)", (host, port, pid)
        ).lastrowid
        assert origin is not None
        (cursor,) = conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()
        ports = peer_ports(conn, Changes(), origin)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return Membership(origin, int(cursor), ports)


def unregister(conn: sqlite3.Connection, origin: int) -> None:
    conn.execute("DELETE FROM peers WHERE origin = ?", (origin,))


def peer_ports(conn: sqlite3.Connection, changes: Changes, origin: int) -> frozenset[int]:
    """The loopback ports of every other process on this host (a store read operation)."""
    cursor = conn.execute(
        "SELECT port FROM peers WHERE origin != ? AND host = ?", (origin, socket.gethostname())
    )
    return frozenset(port for (port,) in cursor)


def live_pids(conn: sqlite3.Connection) -> list[int]:
    """The pids of this host's registered processes that still run: servers and admin commands
    with the file open (a row of a process killed without unregistering is ignored, as
    ``register`` drops it)."""
    rows = conn.execute("SELECT pid FROM peers WHERE host = ?", (socket.gethostname(),))
    return [pid for (pid,) in rows if _alive(pid)]


def forget_all(conn: sqlite3.Connection) -> None:
    """Empty the peers of a copy of the file (a backup): the processes registered in the
    original serve the original, not the copy."""
    conn.execute("DELETE FROM peers")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


# -- catching up -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatchUp:
    cursor: int
    changes: list[Change]
    more: bool


def read_since(conn: sqlite3.Connection, origin: int, cursor: int, limit: int) -> CatchUp:
    """The other processes' changes after ``cursor`` (``limit`` log rows at most), one per id
    with its current document (the latest op wins; a job gone by now is a delete), read in one
    snapshot."""
    conn.execute("BEGIN")
    try:
        oldest, newest = conn.execute(_ENDS).fetchone()
        if oldest is None:
            return CatchUp(cursor, [], more=False)
        if oldest > cursor + 1 or newest < cursor:  # rows it never read were pruned, or lost
            return CatchUp(newest, [RESET], more=False)
        rows = conn.execute(_SINCE, (cursor, origin, limit)).fetchall()
        latest: dict[tuple[bool, str], str] = {}
        for _, op, change_id in rows:
            key = (op == "record", change_id)
            earlier = latest.pop(key, None)  # the id moves to its latest position
            # inserted then updated since the cursor: new to this store's watchers all the same
            latest[key] = "insert" if earlier == "insert" and op == "update" else op
        job_ids = [change_id for is_record, change_id in latest if not is_record]
        docs: dict[str, str] = {}
        if job_ids:
            docs = dict(conn.execute(_DOCS, (encode(job_ids).decode(),)).fetchall())
    finally:
        if conn.in_transaction:  # only read: ending it cannot fail for a lock
            conn.execute("ROLLBACK")
    more = len(rows) == limit
    return CatchUp(rows[-1][0] if more else newest, _as_changes(latest, docs), more)


def _as_changes(latest: dict[tuple[bool, str], str], docs: dict[str, str]) -> list[Change]:
    found: list[Change] = []
    for (is_record, change_id), op in latest.items():
        if is_record:
            found.append(Change("record", change_id))
        elif (text := docs.get(change_id)) is None:
            found.append(Change("delete", change_id))
        else:
            found.append(Change("insert" if op == "insert" else "update", change_id, decode(text)))
    return found


# -- the loopback side -----------------------------------------------------------------------


class Peers(asyncio.DatagramProtocol):
    """This store's place among the processes sharing the file: its socket, the other
    processes' ports, and how far it has read the log.

    The store asks ``behind`` between two batches and catches up when it is set; ``wake`` tells
    the store that it was just set. ``load_ports`` re-reads the other processes' ports."""

    def __init__(
        self, wake: Callable[[], None], load_ports: Callable[[int], Awaitable[frozenset[int]]]
    ) -> None:
        self.origin = 0
        self.cursor = 0
        self.behind = False
        #: the last catch-up left rows behind: the next reads more, on the writer's thread
        self.deep = False
        #: the next batch should prune the log (after a catch-up, see ``logged``)
        self.prune_due = False
        self._logged = 0
        self._ports: frozenset[int] = frozenset()
        self._transport: asyncio.DatagramTransport | None = None
        self._wake = wake
        self._load_ports = load_ports
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False

    async def listen(self) -> int:
        """Bind a loopback port; return it, for ``register``."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(LOOPBACK, 0))
        self._transport = transport
        return int(transport.get_extra_info("sockname")[1])

    def joined(self, membership: Membership) -> None:
        """Registered: say hello, so that the others add this port to theirs."""
        self.origin, self.cursor = membership.origin, membership.cursor
        self._ports = membership.ports
        self._send(HELLO, self._ports)

    def logged(self, count: int) -> None:
        """A batch that logged ``count`` changes committed: tell the others."""
        if self._ports:
            self._send(CHANGED, self._ports)
        self._logged += count
        if self._logged >= PRUNE_EVERY:
            # this store's own rows never move its cursor: catch up first, so that pruning
            # cannot pass a cursor that only lags behind rows this store wrote itself
            self._logged = 0
            self.prune_due = self.behind = True
            self._reload()  # and heal a peer list that a lost hello left stale
            self._wake()

    def caught_up(self, result: CatchUp) -> None:
        self.cursor = result.cursor
        self.deep = result.more
        self.behind = self.behind or result.more

    def leave(self) -> None:
        """After unregistering: the others drop this port; no more datagrams are read."""
        self._send(BYE, self._ports)
        if self._reloading is not None:
            self._reloading.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- asyncio.DatagramProtocol ------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data == CHANGED:
            self.behind = True
            self._wake()
        if data != CHANGED or addr[1] not in self._ports:
            self._reload()  # hello, bye, or a peer whose hello never came

    def error_received(self, exc: Exception) -> None:
        """A peer that went away without unregistering: harmless, its row goes at next open."""

    # -- ----------------------------------------------------------------------------------

    def _send(self, message: bytes, ports: frozenset[int]) -> None:
        if self._transport is not None:
            for port in ports:
                self._transport.sendto(message, (LOOPBACK, port))

    def _reload(self) -> None:
        """Re-read the peer list; one reading at a time, so an older list never wins."""
        if self._reloading is not None:
            self._reload_again = True
        else:
            self._reloading = asyncio.ensure_future(self._reload_ports())

    async def _reload_ports(self) -> None:
        try:
            while True:
                self._reload_again = False
                try:
                    ports = await self._load_ports(self.origin)
                except Exception as exc:  # noqa: BLE001 - the next hello or prune retries
                    log.warning("could not re-read the peers sharing the SQLite file: %s", exc)
                    return
                # a newcomer may have missed commits made before this store knew its port
                self._send(CHANGED, ports - self._ports)
                self._ports = ports
                if not self._reload_again:
                    return
        finally:
            self._reloading = None
