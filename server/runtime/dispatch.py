"""Pushing work: hand ready jobs to idle workers the moment either appears. No polling.

A worker (a session that called ``worker.start``) has ``concurrency`` slots. The dispatcher claims
for every worker with a free slot that may have work, concurrently so that the store can commit
the claims together, and at most half a worker's slots at a time, so that a busy worker runs
one half while the server commits and refills the other. A worker whose last claim came back
short is starved until a job of one of its types becomes ready: the change feed shows it, or,
sooner, a create announces it before its insert is queued (``announce``); its slots free up
when the feed shows its jobs leaving ``running``, whichever server or call made that happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from livejobs import protocol
from livejobs.errors import LivejobsError, Unavailable
from livejobs.jobs import timelimit
from livejobs.jobs.model import Job, Status
from livejobs.logs import context
from livejobs.runtime.connection import Worker
from livejobs.runtime.waiting import Waiter, Waiting
from livejobs.service import LEASE_EXPIRED, JobService
from livejobs.store.base import Change
from livejobs.visibility import HOLDER, project

log = logging.getLogger("livejobs.dispatch")

CLAIM_RETRY_SECONDS = 1.0
#: announced ids kept at most; one whose insert never shows (failed, met a key) is dropped
#: with the rest past this, which only costs a claim that finds nothing
ANNOUNCED_MAX = 10_000
# the statuses as plain strings: an enum member costs an attribute lookup per use (3.11)
_READY, _RUNNING, _CANCELLED = Status.READY.value, Status.RUNNING.value, Status.CANCELLED.value


def _stopped(doc: Job | None, worker: Worker) -> bool:
    """The job left ``worker`` because the server stopped its attempt at the time limit."""
    failures = doc.get("failures") if doc is not None else None
    if not failures or not timelimit.is_stop(failures[-1]):
        return False
    assert doc is not None
    last = failures[-1]
    return bool(last.get("worker") == worker.worker_id and last.get("attempt") == doc["attempts"])


class Dispatcher:
    def __init__(self, service: JobService) -> None:
        self.service = service
        self._workers: list[Worker] = []
        self._by_job: dict[str, Worker] = {}
        #: the latest document of every job our workers hold, kept by the change feed
        self._docs: dict[str, Job] = {}
        self._ready_seq: defaultdict[str, int] = defaultdict(int)
        #: claims waiting for work (``jobs.claim`` with ``wait``)
        self._waiting = Waiting()
        #: ids of ready jobs counted before their insert was committed (see ``announce``)
        self._announced: set[str] = set()
        self._wake = asyncio.Event()
        #: workers to look at on the next wake (an ordered set): a report costs one look
        self._candidates: dict[Worker, None] = {}
        self._opening = asyncio.Event()
        #: called with (job, worker) when a job is pushed; metrics hook
        self.on_dispatch: list[object] = []
        #: called when a worker starts, stops or leaves (``runtime.workers``)
        self.on_workers: list[Callable[[], None]] = []
        #: the server is shutting down (``livejobs.shutdown.drain``): no new worker, no claim
        self.draining = False
        #: set whenever a job leaves a worker, while a drain waits for that (``settle``)
        self._left: asyncio.Event | None = None

    @property
    def workers(self) -> list[Worker]:
        """Connected workers, including stopped ones still finishing their jobs."""
        return list(self._workers)

    def drain(self) -> None:
        """Push no more jobs: running ones finish, workers and claims are refused from now on."""
        self.draining = True
        for worker in self._workers:
            worker.stopped = True
        self._waiting.wake_all()  # waiting claims answer now (``check_open``)

    @property
    def running(self) -> int:
        """The jobs our workers hold right now."""
        return sum(len(w.running) for w in self._workers)

    async def settle(self, grace: float, abort: Callable[[], bool] = lambda: False) -> int:
        """The drain's end: wait up to ``grace`` seconds for running jobs to finish, then hand
        the rest back without counting the attempt (as ``jobs.snooze`` with 0 seconds) and tell
        their workers to stop. Returns how many were handed back."""
        self.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        left = self._left = asyncio.Event()
        try:
            while self.running and (remaining := deadline - loop.time()) > 0 and not abort():
                left.clear()
                # every way a job leaves a worker sets it; re-check abort often
                try:
                    await asyncio.wait_for(left.wait(), min(remaining, 0.2))
                except TimeoutError:
                    pass
        finally:
            self._left = None
        handed = 0
        for worker in self.workers:
            for job_id, token in list(worker.running.items()):
                try:
                    await self.service.snooze(job_id, token, 0, "server")
                    handed += 1
                except LivejobsError:
                    pass  # it finished or was taken back meanwhile
                worker.session.send(protocol.cancel_pushed(job_id))  # stop working on it
        return handed

    def check_open(self) -> None:
        """Refuse what would start work on a draining server, with a clear answer."""
        if self.draining:
            raise Unavailable("the server is draining (shutting down); try another server or retry")

    def add(self, worker: Worker) -> None:
        self.check_open()
        self._workers.append(worker)
        self._nudge(worker)
        self._workers_changed()
        log.info(
            "worker %s started on %s",
            worker.worker_id,
            ", ".join(worker.types),
            extra=context(worker=worker.worker_id, user=worker.user),
        )

    def retire(self, worker: Worker) -> None:
        """No more jobs for this worker; it stays listed until its running jobs leave."""
        worker.stopped = True
        if not worker.running and worker in self._workers:
            self._workers.remove(worker)
        self._workers_changed()

    def rest(self, worker: Worker, resting: bool) -> None:
        """Pause (no free slots) or resume pushing to a worker; resuming looks for work now."""
        worker.resting = resting
        self._workers_changed()  # the workers list shows it paused, or not
        if not resting:
            worker.seen.clear()  # what it skipped while paused is still waiting
            self._nudge(worker)

    async def remove(self, worker: Worker) -> None:
        """The worker is gone: every job it held is a lost attempt, retried per its policy."""
        worker.stopped = True
        if worker in self._workers:
            self._workers.remove(worker)
        for job_id, token in list(worker.running.items()):
            self._by_job.pop(job_id, None)
            self._docs.pop(job_id, None)
            await self.service.worker_lost(job_id, token, worker.worker_id)
        worker.running.clear()
        if self._left is not None:
            self._left.set()
        self._workers_changed()

    def _workers_changed(self) -> None:
        for hook in self.on_workers:
            hook()

    def _ready(self, job_type: str, jobs: int | None = 1) -> None:
        """``jobs`` jobs of ``job_type`` may be ready (``None``: any number, as when its rules
        changed): its starved workers retry, and as many of its waiting claims."""
        self._ready_seq[job_type] += 1
        self._waiting.wake(job_type, jobs)
        for worker in self._workers:
            if job_type in worker.types:
                self._candidates[worker] = None
        self._wake.set()

    def _nudge(self, worker: Worker) -> None:
        """``worker`` may claim now (a slot freed, it resumed or answered again)."""
        self._candidates[worker] = None
        self._wake.set()

    def watching(self, types: Iterable[str]) -> contextlib.AbstractContextManager[Waiter]:
        """A waiting claim, woken when a job of one of ``types`` may be ready (``Waiting``)."""
        return self._waiting.watching(types)

    async def claimed_short(self, types: Iterable[str]) -> None:
        """A claim came back short: a rate limit may have cut it, so arm the window's timer."""
        await self.service.flow.note_short(types, self.service.clock.now())
        self._opening.set()

    def type_changed(self, job_type: str) -> None:
        """A type's flow rules changed (resumed, limits raised): retry starved workers now."""
        self._ready(job_type, None)
        self._opening.set()

    async def run_openings(self) -> None:
        """One timer: wake when a rate-limited type's window next has room."""
        flow, clock = self.service.flow, self.service.clock
        while True:
            self._opening.clear()
            opening = flow.next_opening()
            if opening is None:
                await self._opening.wait()
                continue
            await clock.sleep_until(opening, self._opening)
            if opened := flow.opened(clock.now()):
                for job_type in opened:
                    self._ready(job_type, None)

    def announce(self, docs: list[Job]) -> None:
        """Jobs are about to be inserted (``JobService.inserting``, wired only for a store with
        ordered writes): if any is ready, claim for starved workers now instead of when the
        feed shows it. The claim is queued right behind the insert and commits with it, so the
        job reaches the worker as its creator gets the answer, one commit sooner.

        The feed showing such a job ready is then no news (any claim queued since saw it).
        Only inserts are announced: their ids are new, so the id of an insert that never
        happened can match no later change (an update's could hide its next ready)."""
        if len(self._announced) > ANNOUNCED_MAX:
            self._announced.clear()  # ids whose insert failed or met a key: forget them all
        ready: Counter[str] = Counter()
        for doc in docs:  # one pass: a batch create announces a thousand at a time
            if doc["status"] == _READY:
                ready[doc["type"]] += 1
                self._announced.add(doc["id"])
        for job_type, jobs in ready.items():
            self._ready(job_type, jobs)

    def on_change(self, change: Change) -> None:
        """Runs for every change of every job: plain strings and locals, not enum members."""
        op, job_id, doc = change
        status = doc["status"] if doc is not None else None
        if (
            doc is not None
            and status != _RUNNING
            and self.service.flow.rules(doc["type"]).counts_running
        ):
            self._ready(doc["type"])  # a running slot of a limited type may be free
        if op == "reset":
            for t in {*self._ready_seq, *self._waiting.types()}:
                self._ready(t, None)
            for w in self._workers:
                w.seen.clear()
                self._nudge(w)
        elif status == _READY:
            assert doc is not None
            if job_id in self._announced:
                self._announced.discard(job_id)
            else:
                self._ready(doc["type"])
        worker = self._by_job.get(job_id)
        if worker is None:
            return
        held = self._docs.get(job_id)
        if doc is not None and held is not None and doc["version"] < held["version"]:
            # older than the claim that gave the job to the worker: the feed shows a batch's
            # changes after its claims returned (an insert and its claim, one commit), and a
            # change stream may deliver an event after the write that followed it returned
            return
        lease = doc.get("lease") if doc is not None else None
        if (
            doc is not None
            and status == _RUNNING
            and lease
            and lease["token"] == worker.running.get(job_id)
        ):
            self._docs[job_id] = doc
        else:
            self._by_job.pop(job_id, None)
            self._docs.pop(job_id, None)
            worker.running.pop(job_id, None)
            if status != _RUNNING:
                self._suspect(worker, doc)
            if status == _CANCELLED or _stopped(doc, worker):
                worker.session.send(protocol.cancel_pushed(job_id))  # stop the handler
            if worker.stopped and not worker.running and worker in self._workers:
                self._workers.remove(worker)
            self._nudge(worker)
            if self._left is not None:
                self._left.set()

    def finishing(self, job_id: str, token: str) -> None:
        """The holder is reporting the job done (or failed, or snoozed): free its slot now, so
        the next claim for the worker joins the report's write in the same group commit
        instead of waiting for the change feed to show the report committed."""
        worker = self._by_job.get(job_id)
        if worker is None or worker.running.get(job_id) != token:
            return
        del self._by_job[job_id]
        self._docs.pop(job_id, None)
        del worker.running[job_id]
        if worker.stopped and not worker.running and worker in self._workers:
            self._workers.remove(worker)
        self._nudge(worker)
        if self._left is not None:
            self._left.set()

    def held(self, job_id: str) -> Job | None:
        """A running job one of our workers holds, as last seen: saves the worker's reports a
        read (a stale copy only makes the compare-and-set fail and re-read)."""
        return self._docs.get(job_id)

    def _unpause(self, worker: Worker) -> None:
        worker.paused = False
        self._nudge(worker)

    def heard_from(self, worker: Worker) -> None:
        """A call arrived on the worker's session: a suspect worker is alive again."""
        if worker.suspect:
            worker.suspect = False
            log.info(
                "worker %s is responding again",
                worker.worker_id,
                extra=context(worker=worker.worker_id, user=worker.user),
            )
            self._nudge(worker)

    def _suspect(self, worker: Worker, doc: Job | None) -> None:
        """The job left ``worker`` because its lease ran out, not because it reported: the
        worker may be frozen (SIGSTOP, a blocked event loop) with its socket open, and pushing
        it the retry would lose that attempt too. It gets nothing until it calls again, as
        BullMQ's stalled-job check does; the retry goes to another worker meanwhile."""
        failures = doc.get("failures") if doc is not None else None
        if not failures or worker.suspect:
            return
        last = failures[-1]
        if last.get("error") == LEASE_EXPIRED and last.get("worker") == worker.worker_id:
            worker.suspect = True
            log.warning(
                "worker %s let a lease expire; no more jobs for it until it responds",
                worker.worker_id,
                extra=context(worker=worker.worker_id, user=worker.user),
            )

    def _hungry(self, worker: Worker) -> bool:
        if worker.paused or worker.suspect:
            return False
        return worker.free > 0 and any(
            self._ready_seq[t] > worker.seen.get(t, -1) for t in worker.types
        )

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._candidates:
                candidates, self._candidates = self._candidates, {}
                if not (hungry := [w for w in candidates if self._hungry(w)]):
                    continue
                if len(hungry) == 1:
                    # no task in between: the claim commits with the reports that freed the
                    # slots (docs/performance.md, "A lone worker's claim joins the reports")
                    await self._feed(hungry[0])
                else:
                    await asyncio.gather(*(self._feed(w) for w in hungry))

    async def _feed(self, worker: Worker) -> None:
        seen = {t: self._ready_seq[t] for t in worker.types}
        wanted = min(worker.free, worker.claim_size)
        try:
            jobs = await self.service.claim(
                list(worker.types), worker.worker_id, worker.user, wanted, worker.lease
            )
        except Exception as exc:
            # the store is failing: retry after a pause (starving the worker would strand it
            # beside ready jobs); an unreachable database is no bug: no traceback
            log.log(
                logging.WARNING if isinstance(exc, Unavailable) else logging.ERROR,
                "claim for worker %s failed; retrying in %.0f s",
                worker.worker_id,
                CLAIM_RETRY_SECONDS,
                exc_info=not isinstance(exc, Unavailable),
                extra=context(worker=worker.worker_id, user=worker.user),
            )
            worker.paused = True
            asyncio.get_running_loop().call_later(CLAIM_RETRY_SECONDS, self._unpause, worker)
            return
        if len(jobs) < wanted:
            worker.seen = seen
            # a rate limit may have cut the claim short: arm the timer for its window
            await self.claimed_short(worker.types)
        for job in jobs:
            token = job["lease"]["token"]
            if worker.stopped or not worker.session.open:
                # the worker never saw it: hand it back without counting an attempt
                await self.service.hand_back(job["id"], token)
                continue
            worker.running[job["id"]] = token
            self._by_job[job["id"]] = worker
            self._docs[job["id"]] = job
            worker.session.send(protocol.job_pushed(project(job, HOLDER)))
            for hook in self.on_dispatch:
                hook(job, worker)  # type: ignore[operator]
        if len(jobs) == wanted and worker.free:
            self._candidates[worker] = None  # it got all it asked for and has room: look again
