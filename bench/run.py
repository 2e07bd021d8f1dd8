"""The whole benchmark in one command (``make bench``): start the backends, run every scenario
for every peer, interleaved and repeated, then print and write the results.

Everything started here is stopped by PID on the way out, Ctrl-C and SIGTERM included. The run
keeps to a time budget: a unit of work that would start past it is skipped and said so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

import livejobs_only
import report
import scenarios
from budget import FULL, QUICK, Plan, Run
from lineup import BENCH, PEERS, Peer
from procs import Processes
from services import Backend, start_livejobs, start_postgres, start_redis

DURABILITY = (
    "Redis: AOF, appendfsync everysec, RDB off. livejobs: SQLite WAL, synchronous=NORMAL. "
    "Both survive a process crash; on power loss Redis may lose the last second, SQLite the "
    "transactions since the last checkpoint. livejobs-fsync (synchronous=FULL) loses nothing "
    "it acknowledged, power loss included; so do the livejobs-postgres rows (PostgreSQL with "
    "synchronous_commit=on, fsync=on)."
)
#: the livejobs servers a run may start, by backend name: the extra flags of each
LIVEJOBS_BACKENDS = {"livejobs": (), "livejobs-fsync": ("--synchronous", "FULL")}
#: the livejobs servers on one local PostgreSQL, by backend name: how many share a database
POSTGRES_BACKENDS = {"livejobs-postgres": 1, "livejobs-postgres-2": 2}


SCENARIOS = "throughput,workers,latency,saves,fanout,sdk,scale,scale-postgres,dashboard"
#: the scenarios each peer runs, interleaved with the other peers (the rest are livejobs only)
PER_PEER = ("throughput", "latency", "saves")


def main() -> None:
    args = _parse()
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = Plan(**{**plan.__dict__, "repeats": args.repeats})
    if args.budget is not None:
        plan = Plan(**{**plan.__dict__, "budget_s": args.budget})
    run = Run(plan)
    peers = [p for p in PEERS if p.name in args.peers and _available(p, run)]
    _raise_file_limit()  # inherited by every server and client the run starts
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="livejobs-bench-"))
    logs = workdir / "logs"
    logs.mkdir()
    results: dict[str, Any] = {scenario: {} for scenario in PER_PEER}
    load_before = _load()
    try:
        with Processes(logs) as procs:
            # every scenario once before any is repeated: on a slow machine the budget cuts
            # repetitions, not whole scenarios
            first, more = range(min(plan.repeats, 1)), range(1, plan.repeats)
            peers = _measure_peers(procs, run, peers, args.scenarios, workdir, results, first)
            if "livejobs" in [p.name for p in peers] or "livejobs" in args.peers:
                livejobs_only.measure(procs, run, args.scenarios, workdir, results)
            if more:
                again = workdir / "repeats"  # fresh servers: a Redis and SQLite files of their own
                again.mkdir()
                _measure_peers(procs, run, peers, args.scenarios, again, results, more)
    except KeyboardInterrupt:
        print(f"interrupted; everything started was stopped. Logs: {logs}", file=sys.stderr)
        raise SystemExit(130) from None
    results["meta"] = _meta(plan, args, peers, run, load_before)
    _write(results, Path(args.out))
    report.print_table(results)
    if args.keep or run.failed:
        print(f"work directory (logs of every process) kept: {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure_peers(
    procs: Processes,
    run: Run,
    peers: list[Peer],
    wanted: list[str],
    workdir: Path,
    results: dict[str, Any],
    reps: range,
) -> list[Peer]:
    """The per-peer scenarios, every peer in each of ``reps``, the order rotated each time."""
    backends: dict[str, Backend] = {}
    if any(p.backend == "redis" for p in peers):
        backends["redis"] = start_redis(procs, workdir)
    for name, flags in LIVEJOBS_BACKENDS.items():
        if not any(p.backend == name for p in peers):
            continue
        try:
            backends[name] = start_livejobs(procs, workdir, name, *flags)
        except RuntimeError as exc:
            run.notes.append(f"{name} left out: its server did not start ({exc})")
            peers = [p for p in peers if p.backend != name]
    peers = _start_postgres_backends(procs, run, peers, workdir, backends)
    for rep in reps:  # a second repetition of every scenario before any third
        for scenario in PER_PEER:
            order = peers[rep % len(peers) :] + peers[: rep % len(peers)]
            order = [peer for peer in order if _runs(peer, scenario, wanted)]
            # a repetition runs whole or not at all: a peer repeated alone would weigh its
            # own medians with a moment of the host the others did not see
            whole = sum(_cost(run, peer, scenario) for peer in order)
            if rep and not run.fits(f"{scenario} #{rep + 1} (every peer)", whole):
                continue
            for peer in order:
                if rep or run.fits(f"{scenario} #1 of {peer.name}", _cost(run, peer, scenario)):
                    _measure_one(procs, run, peer, scenario, rep, backends[peer.backend], results)
                    run.repeated(scenario, rep)
    for backend in backends.values():  # servers before their database
        for proc in (backend.proc, *backend.also):
            procs.stop(proc)
    return peers


def _start_postgres_backends(
    procs: Processes, run: Run, peers: list[Peer], workdir: Path, backends: dict[str, Backend]
) -> list[Peer]:
    """One PostgreSQL for the rows that want it, a database and its servers per row: the
    two-server row's producer talks to one server and its worker to the other."""
    wanted = [name for name in POSTGRES_BACKENDS if any(p.backend == name for p in peers)]
    if not wanted:
        return peers
    try:
        postgres = start_postgres(procs, workdir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        run.notes.append(f"{', '.join(wanted)} left out: PostgreSQL did not start ({exc})")
        return [p for p in peers if p.backend not in wanted]
    for name in wanted:
        try:
            db = postgres.create_database()
            servers = [start_livejobs(procs, workdir, name, db=db)]
            for i in range(1, POSTGRES_BACKENDS[name]):
                token = servers[0].token
                servers.append(start_livejobs(procs, workdir, f"{name}-{i}", db=db, token=token))
        except (RuntimeError, subprocess.SubprocessError) as exc:
            run.notes.append(f"{name} left out: its server did not start ({exc})")
            peers = [p for p in peers if p.backend != name]
            continue
        first, last = servers[0], servers[-1]
        also = (*(s.proc for s in servers[1:]), postgres.proc)
        backends[name] = Backend(name, first.proc, first.url, first.token, last.url, also)
    return peers


def _runs(peer: Peer, scenario: str, wanted: list[str]) -> bool:
    """The many-workers row is a throughput run of its own scenario, ``workers``, whose
    one-worker reference is livejobs' throughput run; so that runs when either is wanted."""
    if scenario == "throughput" and "workers" in wanted and "workers" in peer.scenarios:
        return True
    return scenario in wanted and scenario in peer.scenarios


def _cost(run: Run, peer: Peer, scenario: str) -> float:
    """Seconds the run of ``peer`` in ``scenario`` should take: what its last one took, or a
    guess before the first."""
    plan = run.plan
    guess = {
        "throughput": plan.n * peer.share / 500 + 3 * peer.processes,
        "latency": plan.samples * 0.02 + 5,
        "saves": plan.saves * 0.002 + 5,
    }[scenario]
    return run.took.get((peer.name, scenario), guess)


def _measure_one(
    procs: Processes,
    run: Run,
    peer: Peer,
    scenario: str,
    rep: int,
    backend: Backend,
    results: dict[str, Any],
) -> None:
    plan = run.plan
    tag = f"{peer.name}-{scenario[0]}{rep}"
    print(f"{scenario} #{rep + 1}: {peer.name}", file=sys.stderr, flush=True)
    began = time.monotonic()
    try:
        if scenario == "throughput":
            result = scenarios.throughput(procs, peer, backend, plan.n, tag)
        elif scenario == "latency":
            result = scenarios.latency(procs, peer, backend, plan.samples, tag)
        else:
            result = scenarios.saves(procs, peer, backend, plan.saves, tag)
    except Exception as exc:  # one peer failing must not sink the others
        result = run.failure(f"{scenario} #{rep + 1} of {peer.name}", exc)
    run.took[(peer.name, scenario)] = time.monotonic() - began
    if scenario == "throughput" and result.get("wall_s") and not result["e2e_s"]:
        run.notes.append(
            f"throughput #{rep + 1} of {peer.name} was cut off after {result['wall_s']:.0f} s "
            f"with {result['completed']:,} of {result['n']:,} jobs done; its rate is those ÷ "
            "that time"
        )
    results[scenario].setdefault(peer.name, []).append(result)


def _available(peer: Peer, run: Run) -> bool:
    missing = [
        part for part in peer.command[:1] if shutil.which(part) is None and not Path(part).exists()
    ]
    if peer.name == "bullmq" and not (BENCH / "node_modules" / "bullmq").exists():
        missing.append("bench/node_modules (npm ci)")
    if missing:
        run.notes.append(f"{peer.name} left out: {', '.join(missing)} not found")
    return not missing


def _meta(
    plan: Plan, args: argparse.Namespace, peers: list[Peer], run: Run, load_before: str
) -> dict[str, Any]:
    redis = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH,
            text=True,
            capture_output=True,
            check=False,
        ).stdout.strip()
        or "unknown"
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}",
        "quick": args.quick,
        "repeats": plan.repeats,
        "ran": run.ran,
        "n": plan.n,
        "samples": plan.samples,
        "saves": plan.saves,
        "peers": [p.name for p in peers],
        "redis": " ".join(redis[:3]) + ", appendonly yes, appendfsync everysec, save ''",
        "durability": DURABILITY,
        "elapsed_s": time.monotonic() - run.started,
        "load_before": load_before,
        "load_after": _load(),
        "notes": run.notes,
    }


def _write(results: dict[str, Any], out: Path) -> None:
    (out / "raw").mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / "raw" / f"{stamp}.json").write_text(json.dumps(results))
    report.write(results, out)
    if out.resolve() == (BENCH / "results").resolve() and not results["meta"]["quick"]:
        # the README's table follows the full run whose latest.md it points to
        if report.write_readme(results, BENCH.parent / "README.md"):
            print("wrote the README's bench table", file=sys.stderr)
    print(f"wrote {out / 'latest.md'}, {out / 'chart.png'} and raw/{stamp}.json", file=sys.stderr)


def _raise_file_limit() -> None:
    """Ten thousand subscribers are ten thousand descriptors in the server: the soft limit
    (often 1,024) up to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parse() -> argparse.Namespace:
    names = [p.name for p in PEERS]
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    p.add_argument("--repeats", type=int, help="override the plan's repetitions")
    p.add_argument(
        "--budget",
        type=float,
        help="seconds the run may take (default 600, 150 with --quick): on a slow host the "
        "default cuts the later repetitions, and says so",
    )
    p.add_argument("--peers", default=",".join(names), help=f"comma list of {names}")
    p.add_argument(
        "--scenarios",
        default=SCENARIOS,
        help=f"comma list of {SCENARIOS} (workers: the many-workers row beside livejobs)",
    )
    p.add_argument(
        "--out",
        help="where latest.md, chart.png and raw/ go (default: results/, and results/quick/ "
        "for --quick, which must not pass for the full run's latest.md)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory and its logs")
    args = p.parse_args()
    if args.budget is not None and args.budget <= 0:
        p.error("--budget takes a number of seconds above 0")
    args.out = args.out or str(BENCH / "results" / ("quick" if args.quick else ""))
    args.peers = [name for name in args.peers.split(",") if name]
    args.scenarios = args.scenarios.split(",")
    if "workers" in args.scenarios and "livejobs" in args.peers:
        args.peers.append("livejobs-workers")  # the row of the `workers` scenario
    unknown = set(args.peers) - set(names)
    if unknown:
        p.error(f"unknown peers: {', '.join(sorted(unknown))}")
    strange = set(args.scenarios) - set(SCENARIOS.split(","))
    if strange:
        p.error(f"unknown scenarios: {', '.join(sorted(strange))}")
    return args


if __name__ == "__main__":
    main()
