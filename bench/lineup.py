"""Who runs: each peer's command line, backend and configuration, in one list.

Every peer speaks the command line of ``peers/common.py`` (worker / throughput / latency /
saves), so the harness never imports a peer: arq lives in a venv of its own, BullMQ in Node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PEERS_DIR = BENCH / "peers"
CONCURRENCY = 10
"""In-process concurrency for the peers that have it (livejobs, arq, BullMQ)."""
SLOW_SHARE = 0.25
"""The share of the plan's jobs a peer far below 5,000 jobs/s gets in the throughput scenario:
a quarter of 20,000 still keeps it busy for seconds, and the run fits its budget."""
MANY = (4, 50, 5)
"""The "many workers" row: processes, worker connections per process, slots per connection."""


@dataclass(frozen=True)
class Peer:
    name: str
    command: tuple[str, ...]
    backend: str  # "redis", "livejobs", "livejobs-fsync", "livejobs-postgres" or "...-2"
    config: str
    scenarios: tuple[str, ...] = ("throughput", "latency", "saves")
    #: the share of the plan's jobs it gets in the throughput scenario
    share: float = 1.0
    #: worker processes, and worker connections in each (livejobs only)
    processes: int = 1
    connections: int = 1
    concurrency: int = CONCURRENCY

    def argv(self, command: str, queue: str, url: str, token: str, *extra: str) -> list[str]:
        url_flag = "--server" if self.backend.startswith("livejobs") else "--redis"
        argv = [*self.command, command, "--queue", queue, url_flag, url]
        if token:
            argv += ["--token", token]
        if self.connections > 1 and command == "worker":
            argv += ["--connections", str(self.connections)]
        return [*argv, "--concurrency", str(self.concurrency), *extra]


def _python(venv: str, module: str) -> tuple[str, ...]:
    return (str(BENCH / venv / "bin" / "python"), str(PEERS_DIR / module))


PEERS = [
    Peer(
        "livejobs",
        _python(".venv", "livejobs_peer.py"),
        "livejobs",
        f"SQLite store; SDK `process_jobs`, concurrency {CONCURRENCY}, prefetch {CONCURRENCY} "
        "(as Celery prefetches); `create_many` per 1,000; sequential saves: `await job.save()`",
        scenarios=("throughput", "latency", "saves", "workers"),  # one worker: the reference
    ),
    Peer(
        "livejobs-workers",
        _python(".venv", "livejobs_peer.py"),
        "livejobs",
        f"the same server, {MANY[0] * MANY[1]} worker connections of {MANY[2]} slots each "
        f"(prefetch {MANY[2]}), {MANY[1]} per process in {MANY[0]} processes: the many-workers "
        "scenario (`workers`), throughput only",
        scenarios=("workers",),
        processes=MANY[0],
        connections=MANY[1],
        concurrency=MANY[2],
    ),
    Peer(
        "livejobs-fsync",
        _python(".venv", "livejobs_peer.py"),
        "livejobs-fsync",
        "the same with `--synchronous FULL`: every acknowledged commit is on disk (fsync), "
        "so it survives power loss as well as a crash; throughput only, to keep the run short",
        scenarios=("throughput",),
    ),
    Peer(
        "livejobs-postgres",
        _python(".venv", "livejobs_peer.py"),
        "livejobs-postgres",
        "the same on the PostgreSQL store: one server, one local PostgreSQL with "
        "`synchronous_commit=on` and `fsync=on` (every acknowledged commit flushed); "
        f"throughput on {SLOW_SHARE:.0%} of the jobs",
        scenarios=("throughput", "latency"),
        share=SLOW_SHARE,
    ),
    Peer(
        "livejobs-postgres-2",
        _python(".venv", "livejobs_peer.py"),
        "livejobs-postgres-2",
        "two servers on that PostgreSQL (a database of their own): the producer on one, the "
        "worker on the other, so every job crosses servers through the change feed",
        scenarios=("throughput", "latency"),
        share=SLOW_SHARE,
    ),
    Peer(
        "rq",
        _python(".venv", "rq_peer.py"),
        "redis",
        "RQ 2.12 `SimpleWorker` (no fork), one job at a time; `enqueue_many` per 1,000 "
        f"(throughput on {SLOW_SHARE:.0%} of the jobs); sequential saves: `enqueue`",
        share=SLOW_SHARE,
    ),
    Peer(
        "arq",
        _python(".venv-arq", "arq_peer.py"),
        "redis",
        f"arq 0.28, `max_jobs` {CONCURRENCY}, `poll_delay` 0.01 s (default 0.5 s); "
        "`enqueue_job`, 50 in flight (no bulk call; throughput on "
        f"{SLOW_SHARE:.0%} of the jobs); sequential saves: `enqueue_job`",
        share=SLOW_SHARE,
    ),
    Peer(
        "celery",
        _python(".venv", "celery_peer.py"),
        "redis",
        "Celery 5.7, Redis broker + Redis results, `--pool=solo` (concurrency 1), "
        "prefetch ×4, early ack; `apply_async` per job (throughput on "
        f"{SLOW_SHARE:.0%} of the jobs); sequential saves: `apply_async` (what `delay` calls)",
        share=SLOW_SHARE,
    ),
    Peer(
        "bullmq",
        ("node", str(PEERS_DIR / "bullmq_peer.mjs")),
        "redis",
        f"BullMQ 6.7 on Node 20, one `Worker`, concurrency {CONCURRENCY}; `addBulk` per 1,000; "
        "sequential saves: `await queue.add`",
    ),
]

BY_NAME = {peer.name: peer for peer in PEERS}
