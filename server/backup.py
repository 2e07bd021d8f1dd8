"""Backup and restore of a SQLite store, safe while servers keep writing to it.

The copy goes through SQLite's online backup API, never a file copy: copying the file (and its
``-wal``) while a server commits can catch a half-written page or a WAL out of step with it.
Both commands copy the whole database, whatever its tables, so they need no change when the
schema does (only the copy's list of running servers, ``peers``, is emptied); a restored
database older than the server is migrated at the server's next start.

What "consistent" means: the copy is the database as one read transaction saw it, the moment
the backup began. Every commit acknowledged before then is in it; none made after is. A copy
is a single self-contained file (journal mode DELETE, no ``-wal`` beside it) and passes
``PRAGMA integrity_check`` before it takes its name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from livejobs.errors import Conflict, Invalid
from livejobs.store import sqlite_path
from livejobs.store.sqlite import peers as sqlite_peers

#: pages copied per step (4 MB at SQLite's default 4 KB pages); see ``_copy``
PAGES_PER_STEP = 1024
#: how long the copy waits for a lock (a WAL recovery by a starting server, for instance)
BUSY_TIMEOUT_MS = 5_000
#: files beside a database that SQLite would apply to whatever file bears its name next
COMPANIONS = ("-wal", "-shm", "-journal")

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    #: jobs in the copy; None when it has no ``jobs`` table (not a livejobs store)
    jobs: int | None
    bytes: int


def backup(db: str, path: str, *, force: bool = False, progress: Progress | None = None) -> Copied:
    """Copy the live store ``db`` (a settings ``db`` value) to ``path``; ``progress(done, total)``
    hears of each step, in pages."""
    source = _sqlite_file(db, "backup")
    if not source.is_file():
        raise Invalid(f"no SQLite database at {str(source)!r} (nothing to back up)")
    target = _free_target(Path(path), force, "backup")
    if target.exists() and target.samefile(source):
        raise Invalid(f"{path!r} is the store's own database")
    return _copy_to(_open_read_only(source), str(source), target, force, progress)


def restore(backup_path: str, db: str, *, force: bool = False) -> Copied:
    """Put the backup at ``backup_path`` in place as the store ``db``'s database."""
    target = _sqlite_file(db, "restore")
    source = Path(backup_path)
    if not source.is_file():
        raise Invalid(f"no backup at {backup_path!r}")
    if target.exists() and target.samefile(source):
        raise Invalid(f"{backup_path!r} is already the store's database")
    _free_target(target, force, "database")
    _refuse_if_served(target)  # at once, and again just before the rename
    conn = _open_read_only(source)
    try:
        _check(conn, f"the backup {backup_path!r}")
    except BaseException:
        conn.close()
        raise
    return _copy_to(conn, backup_path, target, force, None, before_rename=_refuse_if_served)


#: the tools that back up and restore the other stores, by URL scheme and command
OTHER_TOOLS = {
    ("mongodb", "backup"): "mongodump --oplog",
    ("mongodb", "restore"): "mongorestore --oplogReplay",
    ("postgres", "backup"): "pg_dump -Fc",
    ("postgres", "restore"): "pg_restore",
}


def _sqlite_file(db: str, command: str) -> Path:
    path = sqlite_path(db)
    if path is None:
        kind = "postgres" if db.startswith(("postgresql://", "postgres://")) else "mongodb"
        name = "PostgreSQL" if kind == "postgres" else "MongoDB"
        raise Invalid(
            f"livejobs {command} is for SQLite stores; for {name} use "
            f"{OTHER_TOOLS[kind, command]} (see docs/operations.md, Backup and restore)"
        )
    if path == ":memory:" or path.startswith("file::memory:"):
        raise Invalid(f"{db!r} is an in-memory database, not a file")
    return Path(path)


def _free_target(target: Path, force: bool, what: str) -> Path:
    if target.is_dir():
        raise Invalid(f"{str(target)!r} is a directory")
    if not target.parent.is_dir():
        raise Invalid(f"no directory {str(target.parent)!r} for the {what}")
    if target.exists() and not force:
        raise Conflict(f"{str(target)!r} exists; pass --force to replace it")
    return target


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing. ``mode=rw`` makes a missing file an error instead of
    a new empty database; ``mode=ro`` would do, but could not remove the ``-wal`` and ``-shm``
    it creates beside a store that no server has open."""
    uri = f"{path.absolute().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise Invalid(f"cannot open {str(path)!r}: {exc}") from exc
    return conn


def _copy_to(
    source: sqlite3.Connection,
    name: str,
    target: Path,
    force: bool,
    progress: Progress | None,
    before_rename: Callable[[Path], None] | None = None,
) -> Copied:
    """Copy ``source`` (then close it) into a file beside ``target``, check it, sync it, and
    rename it to ``target``."""
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        try:
            jobs = _copy(source, name, temp, progress)
        finally:
            source.close()
        _fsync(temp)
        if before_rename is not None:
            before_rename(target)
        _put_in_place(temp, target, force)
    except BaseException:
        for leftover in (temp, *(Path(f"{temp}{suffix}") for suffix in COMPANIONS)):
            leftover.unlink(missing_ok=True)
        raise
    return Copied(target, jobs, target.stat().st_size)


def _copy(
    source: sqlite3.Connection, name: str, temp: Path, progress: Progress | None
) -> int | None:
    """The copy, in steps of ``PAGES_PER_STEP`` pages, from one snapshot of ``source``.

    The read transaction held across the steps is what makes the copy finish: between steps
    SQLite would otherwise restart the copy from page one after every commit of another
    process, so a busy store was never backed up (measured: thousands of restarts). A store
    runs in WAL mode, where a reader never holds up writers: the snapshot only keeps
    checkpoints from passing it, so the WAL grows while the copy runs. The steps keep each
    call short and let ``progress`` report."""
    done = sqlite3.connect(temp, isolation_level=None)
    try:
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # the snapshot starts
        report = (
            None if progress is None else (lambda _, left, total: progress(total - left, total))
        )
        source.backup(done, pages=PAGES_PER_STEP, progress=report)
        source.execute("ROLLBACK")
        # the copied header says WAL: make the copy one file that needs no -wal to be read
        done.execute("PRAGMA journal_mode = DELETE")
        if _has_table(done, "peers"):
            # left in, the live servers' rows would make a server on the copy signal them,
            # and a restore onto the copy refuse while they run
            sqlite_peers.forget_all(done)
        _check(done, "the copy")
        return _count_jobs(done)
    except sqlite3.Error as exc:
        raise Invalid(f"cannot copy {name!r}: {exc}") from exc
    finally:
        done.close()


def _check(conn: sqlite3.Connection, what: str) -> None:
    try:
        found = [row[0] for row in conn.execute("PRAGMA integrity_check(10)")]
    except sqlite3.DatabaseError as exc:
        raise Invalid(f"{what} is not a readable SQLite database: {exc}") from exc
    if found != ["ok"]:
        raise Invalid(f"{what} fails PRAGMA integrity_check: {'; '.join(map(str, found))}")


def _count_jobs(conn: sqlite3.Connection) -> int | None:
    if not _has_table(conn, "jobs"):
        return None
    return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?"
    return conn.execute(query, (name,)).fetchone() is not None


def _refuse_if_served(target: Path) -> None:
    """Refuse to replace a database that a process has open, found in its ``peers`` table:
    every server and admin command on a SQLite file registers there while it runs. A write-
    lock test would not do: a running server holds no lock between its transactions."""
    if not target.exists():
        return
    conn = _open_read_only(target)
    try:
        pids = sqlite_peers.live_pids(conn) if _has_table(conn, "peers") else []
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_NOTADB:
            return  # not a database: nothing serves it
        raise Invalid(f"cannot tell whether a server uses {str(target)!r}: {exc}") from exc
    finally:
        conn.close()
    if pids:
        listed = ", ".join(map(str, pids))
        raise Conflict(
            f"{str(target)!r} is in use by running livejobs processes (pid {listed}); "
            "stop them before restoring"
        )


def _put_in_place(temp: Path, target: Path, force: bool) -> None:
    """Rename ``temp`` to ``target``. The target's ``-wal``, ``-shm`` and ``-journal`` go first:
    SQLite would apply a stale one to the new file and corrupt it."""
    if target.exists() and not force:
        raise Conflict(f"{str(target)!r} exists; pass --force to replace it")
    _keep_access(temp, target)
    for suffix in COMPANIONS:
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(temp, target)
    _fsync(target.parent)


def _keep_access(temp: Path, target: Path) -> None:
    """A replaced file's mode and owner carry over, so that the servers' user can still open
    it; a new file stays readable by its owner only (``mkstemp``'s mode: it holds token
    hashes)."""
    with contextlib.suppress(FileNotFoundError):
        was = target.stat()
        os.chmod(temp, stat.S_IMODE(was.st_mode))
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.chown(temp, was.st_uid, was.st_gid)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
