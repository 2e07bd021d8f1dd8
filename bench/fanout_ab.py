"""Scenario 3 (live fan-out) as an interleaved A/B of source trees, for work on the fan-out path.

    bench/.venv/bin/python bench/fanout_ab.py --tree old=/work/old --tree new=. --pairs 3

Each tree's server runs from that tree's own interpreter (``<tree>/.venv/bin/python``, which
must have the tree installed editable); the subscribers and the producer are this bench's
(``fanout.run``). Runs alternate between the trees (old, new, old, new, ...) because the host
is shared and drifts. ``--profile DIR/x.svg`` (or ``.raw``, collapsed stacks as text) records
each server with py-spy into ``DIR`` too: its sampling costs the server a little, so compare
profiled runs with profiled runs.
One JSON line per run on stdout, a table of the pairs at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fanout
from procs import Processes, free_port
from services import Backend, _ok


def start(procs: Processes, tree: Path, workdir: Path, name: str) -> Backend:
    port = free_port()
    token = "bench-" + secrets.token_hex(16)
    python = tree / ".venv" / "bin" / "python"
    argv = [str(python), "-m", "livejobs.cli", "serve", "--db", str(workdir / f"{name}.db")]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--admin-token", token]
    health = f"http://127.0.0.1:{port}/healthz"
    proc = procs.start(name, argv, cwd=tree, ready=lambda: _ok(health), timeout=30)
    return Backend(name, proc, f"ws://127.0.0.1:{port}/ws", token)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one(
    tree: Path, label: str, load: fanout.Load, workdir: Path, profile: Path | None, k: int
) -> dict[str, Any]:
    with Processes(workdir) as procs:
        server = start(procs, tree, workdir, f"{label}-{k}")
        spy = None
        if profile is not None:
            raw = profile.suffix == ".raw"
            out = profile.parent / f"fanout-{label}-{k}.{'txt' if raw else 'svg'}"
            spy = subprocess.Popen(
                [sys.executable.replace("python", "py-spy"), "record", "-o", str(out), "-r", "50"]
                + ["--pid", str(server.proc.pid), "--nonblocking"]
                + (["--format", "raw"] if raw else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            r = fanout.run(procs, server, load, workdir)
        finally:
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its flame graph
            procs.stop(server.proc)
            if spy is not None:
                spy.wait(60)
    lat = r.pop("latency_ms")
    r.update(
        label=label,
        p50=pct(lat, 0.5),
        p99=pct(lat, 0.99),
        p999=pct(lat, 0.999),
        max=max(lat, default=float("nan")),
    )
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tree", action="append", required=True, help="label=path")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--idle", type=int, default=0, help="more subscribers, on filters never met")
    p.add_argument(
        "--profile", type=Path, help="DIR/NAME.svg or DIR/NAME.raw (collapsed stacks, as text)"
    )
    args = p.parse_args()
    trees = [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree]
    more = {"idle": args.idle} if args.idle else {}  # a fanout.py that knows idle subscribers
    load = fanout.Load(args.subscribers, args.rate, args.seconds, **more)
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
    with tempfile.TemporaryDirectory(prefix="fanout-ab-") as tmp:
        for k in range(args.pairs):
            for label, tree in trees:
                started = time.monotonic()
                r = one(tree, label, load, Path(tmp), args.profile, k)
                r["wall_s"] = time.monotonic() - started
                rows[label].append(r)
                keys = ["label", "p50", "p99", "p999", "max", "complete_subscribers"]
                keys += ["server_us_per_delivery", "server_cpu_pct", "server_rss_mb_peak"]
                keys += [key for key in ("idle", "idle_quiet") if key in r]
                print(json.dumps({key: r[key] for key in keys}), flush=True)
    for label, runs in rows.items():
        med = {
            key: statistics.median(r[key] for r in runs)
            for key in ("p50", "p99", "server_us_per_delivery", "server_rss_mb_peak")
        }
        print(label, json.dumps({k: round(v, 2) for k, v in med.items()}))


if __name__ == "__main__":
    main()
