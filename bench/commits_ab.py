"""A/B probe of whole commits on the SQLite store: each commit's own server, SDK and bench peer.

Run from the repository root::

    .venv/bin/python bench/commits_ab.py 1ab1eb1 HEAD --rounds 3 --n 20000

Each commit (anything ``git archive`` takes) is unpacked into a temporary directory with its
``server``, ``worker_sdk`` and ``bench/peers``, importable under the names that commit used
(``livejobs``/``livejobs_sdk``, or ``server``/``worker_sdk`` before the packages were renamed),
so that a commit of any age runs as it was. Per run: one ``livejobs serve`` on a fresh SQLite
file, one worker (concurrency and prefetch 10), one producer of ``--n`` no-op jobs by
``create_many``, the throughput scenario of ``make bench``. Rounds alternate the order (A B,
B A, ...) so that a busy neighbour hits each commit alike. Prints, per run, end-to-end and
enqueue jobs/s and the CPU per job (µs) of the server and of the worker; then the medians.
Used to find where a rate was lost between two commits (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "lj_probe_" + "0123456789abcdef" * 2
NAMES = {"livejobs": "server", "livejobs_sdk": "worker_sdk", "server": "server"}


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def unpack(commit: str, into: Path) -> Path:
    """``commit``'s server, SDK and peers under ``into``; returns its import path."""
    archive = subprocess.run(
        ["git", "archive", commit, "server", "worker_sdk", "bench/peers"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    path = into / "path"
    path.mkdir()
    for name, folder in NAMES.items():
        (path / name).symlink_to(into / folder)
    (path / "worker_sdk").symlink_to(into / "worker_sdk")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_once(tree: Path, n: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'path'}:{tree / 'bench' / 'peers'}"}
    module = "livejobs.cli" if (tree / "server" / "__main__.py").exists() else "server.cli"
    port, peer = free_port(), str(tree / "bench" / "peers" / "livejobs_peer.py")
    url = f"ws://127.0.0.1:{port}/ws"
    with tempfile.TemporaryDirectory() as work:
        server = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--db", f"{work}/jobs.db"]
            + ["--port", str(port), "--admin-token", TOKEN],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker = None
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{tree}: the server did not start") from None
                    time.sleep(0.05)
            common = ["--queue", "q", "--server", url, "--token", TOKEN]
            worker = subprocess.Popen(
                [sys.executable, peer, "worker", *common],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert worker.stdout is not None
            while "READY" not in (worker.stdout.readline() or "READY"):
                pass
            server_ticks, worker_ticks = _ticks(server.pid), _ticks(worker.pid)
            producer = subprocess.run(
                [sys.executable, peer, "throughput", *common, "--n", str(n)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            server_ticks = _ticks(server.pid) - server_ticks
            worker_ticks = _ticks(worker.pid) - worker_ticks
        finally:
            for process in (worker, server):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
    result = json.loads(producer.stdout.strip().splitlines()[-1])
    tick = 1e6 / os.sysconf("SC_CLK_TCK") / n
    return {
        "e2e jobs/s": n / result["e2e_s"],
        "enqueue jobs/s": n / result["enqueue_s"],
        "server µs/job": server_ticks * tick,
        "worker µs/job": worker_ticks * tick,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch:
        trees = {c: unpack(c, Path(tempfile.mkdtemp(dir=scratch))).parent for c in args.commits}
        for round_ in range(args.rounds):
            order = args.commits if round_ % 2 == 0 else args.commits[::-1]
            for commit in order:
                figures = run_once(trees[commit], args.n)
                results[commit].append(figures)
                print(commit, "  ".join(f"{k} {v:,.0f}" for k, v in figures.items()), flush=True)
    print("medians:")
    for commit, runs in results.items():
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(commit, "  ".join(f"{k} {v:,.0f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
