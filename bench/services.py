"""The two backends under test: a Redis for the peers and a livejobs server on SQLite.

Redis runs with ``appendonly yes`` and ``appendfsync everysec``, so every peer writes an AOF
flushed once a second: the durability a production Redis queue is usually given. RDB snapshots
are off (``--save ''``) so none lands in the middle of a run.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from procs import Processes, Started, free_port

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Backend:
    name: str
    proc: Started
    url: str
    token: str = ""


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


def start_livejobs(procs: Processes, workdir: Path, name: str, *extra: str) -> Backend:
    """A fresh server on a fresh SQLite file, with a fixed admin token for the scripts."""
    port = free_port()
    token = "bench-" + secrets.token_hex(16)
    argv = [
        sys.executable,
        "-m",
        "livejobs.cli",
        "serve",
        "--db",
        str(workdir / f"{name}.db"),
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
