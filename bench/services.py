"""The backends under test: a Redis for the peers, livejobs servers on SQLite, and a local
PostgreSQL (``synchronous_commit=on``, ``fsync=on``) for the livejobs-postgres rows.

Redis runs with ``appendonly yes`` and ``appendfsync everysec``, so every peer writes an AOF
flushed once a second: the durability a production Redis queue is usually given. RDB snapshots
are off (``--save ''``) so none lands in the middle of a run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from procs import Processes, Started, free_port

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
from tests.pg import SUPERUSER, server_bin  # noqa: E402  (one way to find and run PostgreSQL)


@dataclass(frozen=True)
class Backend:
    name: str
    proc: Started
    url: str
    token: str = ""
    #: where the worker connects, when not to ``url`` (the two-server row)
    worker_url: str = ""
    #: more processes whose CPU counts as the backend's (PostgreSQL, a second server)
    also: tuple[Started, ...] = ()


def start_redis(procs: Processes, workdir: Path) -> Backend:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: `make -C bench run` installs it (apt-get)")
    port = free_port()
    data = workdir / "redis"
    data.mkdir()
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    client = Redis(port=port)
    proc = procs.start("redis", argv, ready=lambda: bool(client.ping()))
    client.close()
    return Backend("redis", proc, f"redis://127.0.0.1:{port}/0")


def start_livejobs(
    procs: Processes, workdir: Path, name: str, *extra: str, db: str = "", token: str = ""
) -> Backend:
    """A fresh server on a fresh SQLite file (or on ``db``), with a fixed admin token."""
    port = free_port()
    token = token or "bench-" + secrets.token_hex(16)
    argv = [
        sys.executable,
        "-m",
        "livejobs.cli",
        "serve",
        "--db",
        db or str(workdir / f"{name}.db"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--admin-token",
        token,
        *extra,
    ]
    health = f"http://127.0.0.1:{port}/healthz"
    proc = procs.start(name, argv, cwd=BENCH.parent, ready=lambda: _ok(health), timeout=30)
    return Backend(name, proc, f"ws://127.0.0.1:{port}/ws", token)


def _ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:
        return bool(response.status == 200)


@dataclass(frozen=True)
class Postgres:
    proc: Started
    port: int
    run: tuple[str, ...]  # the prefix that runs PostgreSQL's binaries (runuser as root)

    def create_database(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        createdb = [*self.run, str(server_bin() / "createdb")]  # type: ignore[operator]
        argv = [*createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name]
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"


def start_postgres(procs: Processes, workdir: Path, name: str = "postgres") -> Postgres:
    """A fresh cluster in ``workdir / name``, in the foreground so that ``procs`` stops it by
    PID; every commit waits for its WAL flush (``synchronous_commit=on``, ``fsync=on``)."""
    bindir = server_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (`make postgres` at the top)")
    run: tuple[str, ...] = ("runuser", "-u", "postgres", "--") if os.geteuid() == 0 else ()
    home = workdir / name
    home.mkdir(mode=0o700)
    if run:  # the postgres user reaches its directory through the run's (root's) own
        workdir.chmod(0o711)
        shutil.chown(home, "postgres", "postgres")
    data = home / "data"
    initdb = [*run, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust"]
    subprocess.run([*initdb, "-E", "UTF8", "--no-locale"], check=True, capture_output=True)
    port = free_port()
    argv = [*run, str(bindir / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1"]
    argv += ["-c", f"port={port}", "-c", f"unix_socket_directories={home}"]
    argv += ["-c", "synchronous_commit=on", "-c", "fsync=on", "-c", "max_connections=100"]
    ready = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    proc = procs.start(name, argv, ready=lambda: subprocess.run(ready).returncode == 0, timeout=60)
    return Postgres(proc, port, run)
