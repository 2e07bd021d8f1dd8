"""Guarantee 2 under chaos: 5,000 jobs with random durations and planned failures, four worker
processes, a driver that kill -9s a random worker every one to two seconds (and starts a new
one), kills and restarts the server twice, and cancels a few jobs on the way.

At the end every job is accounted for (completed, failed after its retries, or cancelled by
the driver), none is left running or waiting, and every attempt is explained: it completed,
failed as planned, was cancelled, or was lost to a kill that happened while it ran. The
workers' journals (written before each execution) show that every execution is in its job's
log and that no attempt ran twice.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.procs import Processes, WorkerProcess, processes, with_client
from tests.reliability.test_durability import find_all
from tests.servers import ProcessServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = 5000
WORKERS = 4
CONCURRENCY = 4
LEASE = 3.0
RETRIES = 8
JOB_MS = (10, 100)
KILL_EVERY = (1.0, 2.0)
#: the server is killed when this share of the jobs has finished (once each)
SERVER_KILLS_AT = (0.25, 0.6)
RUN_DEADLINE = 150.0
LOST = ("worker lost", "lease expired: worker lost")
STARTED = re.compile(r"^started by worker (\S+) \(attempt (\d+)\)$")
FINISHED = ("completed", "failed", "cancelled")


@dataclass
class Chaos:
    """What the driver did, with wall-clock times comparable to the server's."""

    worker_kills: dict[str, float] = field(default_factory=dict)  # worker id → time of kill
    server_kills: list[float] = field(default_factory=list)
    cancel_asked: set[str] = field(default_factory=set)
    #: workers found dead without being killed (see chaos_worker: the SDK gave up reconnecting)
    worker_deaths: list[str] = field(default_factory=list)

    def explains_loss(self, worker: str, started: float, noticed: float) -> bool:
        """A lost attempt must have been running when its worker or the server was killed.
        Small slack: the server may claim for a worker in the instant its kill is sent."""
        killed = self.worker_kills.get(worker)
        if killed is not None and started <= killed + 0.5 and noticed >= killed - 0.05:
            return True
        return any(started <= t + 0.05 and noticed >= t for t in self.server_kills)


def plan_jobs(rng: random.Random) -> list[dict[str, Any]]:
    specs = []
    for i in range(JOBS):
        roll = rng.random()
        if roll < 0.03:
            fail_on = list(range(1, RETRIES + 2))  # fails every attempt: ends failed
        elif roll < 0.2:
            fail_on = sorted(rng.sample(range(1, 4), rng.randint(1, 2)))
        else:
            fail_on = []
        specs.append(
            {
                "type": "chaos",
                "data": {"i": i, "ms": rng.randint(*JOB_MS), "fail_on": fail_on},
                "retry": {"retries": RETRIES},
            }
        )
    return specs


class Workers:
    """WORKERS slots, each running one worker process; a killed one is replaced at once."""

    def __init__(self, server: ProcessServer, token: str, procs: Processes, tmp: Path) -> None:
        self.server, self.token, self.procs, self.tmp = server, token, procs, tmp
        self.generation = 0
        self.slots = [self.spawn(slot) for slot in range(WORKERS)]

    def spawn(self, slot: int) -> WorkerProcess:
        self.generation += 1
        name = f"w{slot}.{self.generation}"
        worker_id = f"chaos-worker/{name}"  # worker ids are under their user (issue 20)
        return self.procs.start(
            WorkerProcess(
                self.server.ws_url,
                self.token,
                "chaos",
                worker_id,
                self.tmp / "journals" / f"{name}.log",
                self.tmp / f"{name}.out",
                concurrency=CONCURRENCY,
            )
        )

    async def kill(self, slot: int) -> str:
        victim = self.slots[slot]
        await victim.kill()
        self.slots[slot] = self.spawn(slot)
        return victim.worker_id

    def replace_dead(self) -> list[str]:
        dead = []
        for slot, worker in enumerate(self.slots):
            if worker.proc is not None and worker.proc.poll() is not None:
                dead.append(f"{worker.worker_id}: {worker.output().strip()[-300:]}")
                self.slots[slot] = self.spawn(slot)
        return dead


async def test_chaos_run_loses_nothing_and_leaves_nothing_running(tmp_path):
    rng = random.Random(20261125)
    server = ProcessServer(tmp_path / "jobs.db", "--lease", str(LEASE))
    (tmp_path / "journals").mkdir()
    chaos = Chaos()
    await server.start()
    try:
        token = await server.token("worker", "chaos-worker")
        async with processes() as procs:
            workers = Workers(server, token, procs, tmp_path)
            specs = plan_jobs(rng)
            ids: list[str] = []
            async with server.client(reconnect=False) as admin:
                for start in range(0, JOBS, 1000):
                    ids += await admin.create_many(specs[start : start + 1000])
            assert len(set(ids)) == JOBS
            began = time.monotonic()
            await drive(server, workers, chaos, rng, ids)
            elapsed = time.monotonic() - began
            docs = await with_client(server, lambda c: find_all(c, {"type": "chaos"}))
        print(
            f"\nchaos: {JOBS} jobs in {elapsed:.1f}s, {len(chaos.worker_kills)} worker kills, "
            f"{len(chaos.server_kills)} server kills, {len(chaos.cancel_asked)} cancels asked, "
            f"{len(chaos.worker_deaths)} workers whose SDK gave up reconnecting"
        )
        check(
            docs,
            specs_by_i={s["data"]["i"]: s for s in specs},
            chaos=chaos,
            journal=read_journals(tmp_path / "journals"),
        )
    finally:
        await server.stop()


async def drive(
    server: ProcessServer, workers: Workers, chaos: Chaos, rng: random.Random, ids: list[str]
) -> None:
    """One fault every 1-2 s until every job has finished (bounded by RUN_DEADLINE)."""
    deadline = time.monotonic() + RUN_DEADLINE
    counts: dict[str, Any] = {}
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(*KILL_EVERY))  # the chaos interval itself
        chaos.worker_deaths += workers.replace_dead()
        counts = await with_client(server, lambda c: c.counts({"type": "chaos"}))
        finished = sum(counts["status"].get(s, 0) for s in FINISHED)
        if finished == JOBS:
            assert len(chaos.server_kills) == len(SERVER_KILLS_AT), "finished before the chaos"
            return
        due = (
            len(chaos.server_kills) < len(SERVER_KILLS_AT)
            and finished >= SERVER_KILLS_AT[len(chaos.server_kills)] * JOBS
        )
        if due:
            chaos.server_kills.append(time.time())
            await server.kill()
            await server.start()
            continue
        slot = rng.randrange(WORKERS)
        chaos.worker_kills[workers.slots[slot].worker_id] = time.time()
        await workers.kill(slot)
        if rng.random() < 0.3:  # and cancel a few jobs, whatever state they are in
            chosen = rng.sample(ids, 10)
            chaos.cancel_asked.update(chosen)
            await with_client(server, lambda c, chosen=chosen: c.cancel_jobs(chosen))
    raise AssertionError(f"jobs still unfinished after {RUN_DEADLINE}s: {counts}")


def read_journals(folder: Path) -> list[tuple[str, int, str]]:
    runs = []
    for path in folder.iterdir():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:  # a kill can cut the very last line short
                runs.append((parts[0], int(parts[1]), parts[2]))
    return runs


def check(
    docs: list[dict[str, Any]],
    specs_by_i: dict[int, dict[str, Any]],
    chaos: Chaos,
    journal: list[tuple[str, int, str]],
) -> None:
    assert len(docs) == JOBS, f"{JOBS - len(docs)} jobs are missing"
    statuses = Counter(d["status"] for d in docs)
    assert set(statuses) <= set(FINISHED), f"unfinished jobs at the end: {statuses}"
    by_id = {d["id"]: d for d in docs}
    problems: list[str] = []
    lost_attempts = 0
    for doc in docs:
        fail_on = set(specs_by_i[doc["data"]["i"]]["data"]["fail_on"])
        lost_attempts += explain_attempts(doc, fail_on, chaos, problems)
    executed: dict[tuple[str, int], list[str]] = defaultdict(list)
    for job_id, attempt, worker in journal:
        executed[(job_id, attempt)].append(worker)
    for (job_id, attempt), workers in executed.items():
        doc = by_id.get(job_id)
        if doc is None:
            problems.append(f"journal names unknown job {job_id}")
            continue
        if len(workers) > 1:
            problems.append(f"{job_id} attempt {attempt} executed by {workers}")
        if starts(doc).get(attempt, (None,))[0] != workers[0]:
            problems.append(
                f"{job_id} attempt {attempt} ran on {workers[0]} but its log says "
                f"{starts(doc).get(attempt)}"
            )
    for doc in docs:
        if doc["status"] == "completed" and (doc["id"], doc["attempts"]) not in executed:
            problems.append(f"{doc['id']} completed without an execution in any journal")
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:20])
    # A killed worker loses what it holds: at most CONCURRENCY. A killed server loses, per
    # worker, what the worker holds and also the attempts whose reports it had received but not
    # yet committed: a report frees its slot at once (Dispatcher.finishing), so a new job may
    # already be claimed into the slot of one whose "done" dies with the server.
    ceiling = len(chaos.worker_kills) * CONCURRENCY + len(chaos.server_kills) * (
        WORKERS * 2 * CONCURRENCY
    )
    print(f"chaos: {dict(statuses)}, {lost_attempts} attempts lost (at most {ceiling} possible)")
    assert 0 < lost_attempts <= ceiling
    assert statuses["completed"] > JOBS * 0.8


def starts(doc: dict[str, Any]) -> dict[int, tuple[str, float]]:
    """attempt → (worker, time) from the job's log."""
    found = {}
    for entry in doc["log"]:
        match = STARTED.match(entry["message"])
        if match:
            found[int(match.group(2))] = (match.group(1), entry["time"])
    return found


def explain_attempts(
    doc: dict[str, Any], fail_on: set[int], chaos: Chaos, problems: list[str]
) -> int:
    """Check that every attempt of ``doc`` has exactly one explanation; returns lost ones."""
    job = doc["id"]
    begun = starts(doc)
    if sorted(begun) != list(range(1, doc["attempts"] + 1)):
        problems.append(f"{job}: {doc['attempts']} attempts but log starts {sorted(begun)}")
        return 0
    lost = 0
    failed_attempts = set()
    for failure in doc["failures"]:
        n = failure["attempt"]
        failed_attempts.add(n)
        worker, started = begun[n]
        if failure["error"] in LOST:
            lost += 1
            if failure["worker"] != worker:
                problems.append(f"{job}: attempt {n} lost by {failure['worker']}, run by {worker}")
            if not chaos.explains_loss(worker, started, failure["time"]):
                problems.append(f"{job}: attempt {n} on {worker} lost with no kill to explain it")
        elif n not in fail_on:
            problems.append(f"{job}: attempt {n} failed unplanned: {failure['error']}")
    if len(failed_attempts) != len(doc["failures"]):
        problems.append(f"{job}: an attempt failed twice: {doc['failures']}")
    last = doc["attempts"]
    if doc["status"] == "completed":
        if last in failed_attempts or last in fail_on:
            problems.append(f"{job}: completed on attempt {last}, planned to fail or failed")
        if doc["result"] != {"attempt": last, "worker": begun[last][0]}:
            problems.append(f"{job}: result {doc['result']} is not attempt {last}'s")
        expected_failed = set(range(1, last))
    elif doc["status"] == "failed":
        if last != RETRIES + 1:
            problems.append(f"{job}: failed after {last} attempts, retries allow {RETRIES + 1}")
        expected_failed = set(range(1, last + 1))
    else:  # cancelled, by the driver only; the attempt it interrupted neither failed nor finished
        if job not in chaos.cancel_asked:
            problems.append(f"{job}: cancelled but the driver never cancelled it")
        before, through = set(range(1, last)), set(range(1, last + 1))
        expected_failed = failed_attempts if failed_attempts in (before, through) else before
    if failed_attempts != expected_failed:
        problems.append(
            f"{job} ({doc['status']}): failed attempts {sorted(failed_attempts)}, "
            f"expected {sorted(expected_failed)}"
        )
    return lost
