"""The scenarios only livejobs has: live fan-out (in steps), the SDK's sync and async clients,
scale (on SQLite, and on PostgreSQL) and the dashboard, each on a server and a database of its
own, within what is left of the run's budget.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import dashboard
import fanout
import scale
import sync_overhead
from budget import Run
from procs import Processes
from services import start_livejobs, start_postgres

SDK_CALLS = 1_000
"""Saves per client and round (a quarter as many ``run`` round trips): the sequential-saves
scenario has the async save against the peers; this one only weighs the sync client's hop."""


def measure(
    procs: Processes, run: Run, wanted: list[str], workdir: Path, results: dict[str, Any]
) -> None:
    if "fanout" in wanted:
        _fanout(procs, run, workdir, results)
    if "sdk" in wanted and run.fits("sdk", 40):
        print("sdk: sync and async client per call", file=sys.stderr, flush=True)
        server = start_livejobs(procs, workdir, "livejobs-sdk")
        try:
            results["sdk"] = sync_overhead.measure(server.url, server.token, n=SDK_CALLS)
        except Exception as exc:
            run.failure("sdk", exc)
        finally:
            procs.stop(server.proc)
    if "scale" in wanted:
        # seeding runs at 25,000-40,000 jobs/s; the estimate allows for a slower machine
        _scale(procs, run, workdir, results, "scale", 20_000)
    if "dashboard" in wanted:
        _dashboard(run, workdir, results)
    if "scale-postgres" in wanted:  # last: run alone, it has the budget for a million
        # seeding runs at about 10,000 jobs/s
        _scale(procs, run, workdir, results, "scale-postgres", 5_000)


def _scale(
    procs: Processes,
    run: Run,
    workdir: Path,
    results: dict[str, Any],
    scenario: str,
    seeded_per_s: float,
) -> None:
    """Two servers, one growing and one kept at the first level as the reference, each on a
    database of its own: SQLite files, or (``scale-postgres``) two databases of one cluster."""
    levels = [
        lv
        for lv in run.plan.levels
        if run.fits(f"{scenario} at {lv:,} jobs", lv / seeded_per_s + 10)
    ]
    if len(levels) < 2:  # the first level alone is the reference's own: nothing to compare
        if levels:
            run.notes.append(f"skipped {scenario}: only its first level fits the budget")
        return
    print(f"{scenario}: {levels}", file=sys.stderr, flush=True)
    started = []
    try:
        dbs = ["", ""]
        if scenario == "scale-postgres":
            postgres = start_postgres(procs, workdir, "postgres-scale")
            started.append(postgres.proc)
            dbs = [postgres.create_database(), postgres.create_database()]
        server = start_livejobs(procs, workdir, f"livejobs-{scenario}", db=dbs[0])
        started.insert(0, server.proc)
        name = f"livejobs-{scenario}-reference"
        reference = start_livejobs(procs, workdir, name, db=dbs[1])
        started.insert(0, reference.proc)
        results[scenario] = scale.run(server, reference, levels)
    except Exception as exc:
        run.failure(scenario, exc)
    finally:
        for proc in started:  # servers before their database
            procs.stop(proc)


def _fanout(procs: Processes, run: Run, workdir: Path, results: dict[str, Any]) -> None:
    """Each step on a fresh server, so that its RSS is that step's alone."""
    steps: list[dict[str, Any]] = []
    for load in run.plan.loads:
        if not run.fits(f"fan-out at {load.name}", load.cost_s()):
            continue
        print(f"fan-out: {load.name}", file=sys.stderr, flush=True)
        size = load.subscribers + load.idle
        server = start_livejobs(procs, workdir, f"livejobs-fanout-{size}")
        try:
            steps.append(fanout.run(procs, server, load, workdir))
        except Exception as exc:
            steps.append({**run.failure(f"fan-out at {load.name}", exc), "load": load.name})
        finally:
            procs.stop(server.proc)
    if steps:
        results["fanout"] = steps


def _dashboard(run: Run, workdir: Path, results: dict[str, Any]) -> None:
    """The largest size whose estimate fits the time left (a million when run alone), on a
    server of its own; the size is printed and reported."""
    flow_s = 10.0 if run.plan.quick else dashboard.FLOW_S
    sizes = dashboard.SIZES[2:] if run.plan.quick else dashboard.SIZES
    left = run.plan.budget_s - (time.monotonic() - run.started)
    jobs = next((n for n in sizes if dashboard.cost_s(n, flow_s) <= left), None)
    if jobs is None:
        run.notes.append(f"skipped dashboard: {left:.0f} s left, {sizes[-1]:,} jobs need more")
        return
    if jobs < sizes[0]:
        run.notes.append(
            f"dashboard at {jobs:,} jobs: a million would not fit the {left:.0f} s left"
        )
    print(f"dashboard: {jobs:,} jobs", file=sys.stderr, flush=True)
    try:
        results["dashboard"] = dashboard.run(workdir, jobs, flow_s)
    except Exception as exc:
        results["dashboard"] = run.failure("dashboard", exc)
