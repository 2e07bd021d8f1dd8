"""A throwaway PostgreSQL cluster for the tests: one per test session, a database per test.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(Debian's package creates it) and every server binary runs through ``runuser``; as any other
user the binaries run as that user. The cluster lives in a temporary directory, listens on
127.0.0.1 on a free port and keeps its unix socket in that directory; ``stop`` ends the server
and removes the directory, leaving no process behind.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tests.ports import free_port

SUPERUSER = "livejobs"


def server_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl`` (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """``start()`` a cluster, ``create_database()`` per test, ``stop()`` at the end."""

    can_restart = True

    def __init__(self, durable: bool = False, options: str = "") -> None:
        #: every commit waits for its WAL flush (benchmarks); tests run without fsync
        self.durable = durable
        self.options = options  # more ``-c name=value`` for the server (bench/pg_probe.py)
        bindir = server_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: run `make postgres`")
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="livejobs-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.dir} -c max_connections=200 -c shared_buffers=64MB "
            + ("-c fsync=on -c synchronous_commit=on" if self.durable else
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            + f" {self.options}"
        )  # fmt: skip
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name)
        return self.url(name)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, the data stays (a failover)."""
        log = str(self.dir / "log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-m", "fast", "-w", "-t", "30", "restart"
        )

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class External:
    """A PostgreSQL server someone else runs (``LIVEJOBS_TEST_POSTGRES_URL``, e.g. a CI
    service): a fresh database per test, made by its superuser; it cannot be restarted."""

    can_restart = False

    def __init__(self, url: str) -> None:
        self.base = url.rstrip("/")

    def url(self, database: str = "postgres") -> str:
        return self.base.rpartition("/")[0] + "/" + database

    def create_database(self) -> str:
        import asyncpg  # only here: the rest of this module needs nothing beyond the stdlib

        name = f"t_{uuid.uuid4().hex[:12]}"

        async def create() -> None:
            conn = await asyncpg.connect(self.base)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        _in_thread(create)  # a test's event loop may be running in this thread
        return self.url(name)

    def restart(self) -> None:
        raise RuntimeError("an external PostgreSQL cannot be restarted by the tests")

    def stop(self) -> None:
        pass


def _in_thread(make: Any) -> None:
    import asyncio
    import threading

    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
