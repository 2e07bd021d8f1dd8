"""Every process the bench starts, and its stop: by PID, children first seen, even on Ctrl-C.

``Processes`` is a context manager; whatever is still running when it exits is stopped. Each
process writes its output to a log file under the run's work directory (for post-mortems), and
a worker signals that it is consuming by printing ``READY`` on a line of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Started:
    name: str
    popen: subprocess.Popen[str]
    log: Path
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def pid(self) -> int:
        return self.popen.pid


class Processes:
    """Starts processes and guarantees their stop."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[Started] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.running):
            self.stop(proc)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
        ready_line: str | None = None,
        timeout: float = 60.0,
    ) -> Started:
        """Start ``argv`` and wait until ``ready()`` is true or ``ready_line`` was printed."""
        log = self.logs / f"{name}.log"
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the bench, which then stops each one by PID
        )
        proc = Started(name, popen, log)
        self.running.append(proc)
        threading.Thread(target=_drain, args=(proc, ready_line), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise RuntimeError(f"{name} exited with {popen.returncode}; see {log}")
            if proc.ready.is_set() or (ready is not None and _safe(ready)):
                return proc
            time.sleep(0.05)
        self.stop(proc)
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s; see {log}")

    def stop(self, proc: Started, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace``; children are stopped by their own PIDs."""
        if proc in self.running:
            self.running.remove(proc)
        if proc.popen.poll() is not None:
            return
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        proc.popen.send_signal(signal.SIGTERM)
        try:
            proc.popen.wait(grace)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass


def run_json(argv: Sequence[str], *, cwd: Path, timeout: float, log: Path) -> str:
    """Run a producer to its end (killed by PID past ``timeout``); return its last stdout line."""
    with log.open("w") as err:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=timeout,
            check=False,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{argv[0]} {argv[1:3]} failed ({done.returncode}); see {log}")
    return lines[-1]


def _drain(proc: Started, ready_line: str | None) -> None:
    assert proc.popen.stdout is not None
    with proc.log.open("w") as log:
        for line in proc.popen.stdout:
            log.write(line)
            log.flush()
            if ready_line is not None and line.strip() == ready_line:
                proc.ready.set()


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        return False
