"""Prometheus metrics (served at ``/metrics`` by the app): one registry per app, no
module-level collectors.

Counters and histograms are fed by the same change feed everyone else reads (so on N servers
sharing one MongoDB each server counts every job, like every subscriber sees every change) and
by the dispatcher's ``on_dispatch`` hook. Gauges that describe the whole store (jobs by type and
status) are computed when scraped, so they are exact and cost nothing between scrapes.

Job data, tokens and user names never become labels: only job types and statuses do, and only
the first ``max_metric_types`` types seen (any creator can invent types: each new one would be
a new series in every family); later ones are counted together as ``type="(other)"``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from livejobs.clock import Clock
from livejobs.jobs import rollups
from livejobs.jobs.model import FINISHED, Status
from livejobs.runtime.connection import Worker
from livejobs.runtime.dispatch import Dispatcher
from livejobs.runtime.history import History
from livejobs.runtime.tallies import Tallies
from livejobs.store.base import Change, Store

#: a job's failures as last seen: how many, and the time of the newest
Failed = tuple[int, float | None]

#: jobs whose last seen status is remembered, to tell a transition from a later touch
TRACKED = 100_000

# the statuses as plain strings: an enum member costs an attribute lookup per use (3.11)
_READY, _RUNNING, _COMPLETED = Status.READY.value, Status.RUNNING.value, Status.COMPLETED.value
_FAILED, _CANCELLED = Status.FAILED.value, Status.CANCELLED.value

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


#: the ``type`` label of every job type past the first ``max_metric_types``
OTHER = "(other)"


@dataclass(slots=True)
class Sources:
    """What the metrics read besides the change feed, once the app's lifespan has built it."""

    clock: Clock
    store: Store
    dispatcher: Dispatcher
    #: the open subscriptions and the connected clients, counted at scrape time
    subscriptions: Sized
    sessions: Sized
    history: History | None = None


class Metrics:
    """The app's metrics. ``bind`` it to its ``Sources`` once the lifespan has built them."""

    def __init__(self, max_types: int = 100) -> None:
        self.max_types = max_types
        #: the job types that have a label of their own
        self._types: set[str] = set()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.jobs = Gauge(
            "livejobs_jobs", "Jobs in the store by type and status", ["type", "status"], registry=r
        )
        # fed per change: plain numbers, exported when scraped (see livejobs.runtime.tallies)
        t = Tallies()
        r.register(t)
        self.created = t.tally("livejobs_jobs_created", "Jobs created", "type")
        self.completed = t.tally("livejobs_jobs_completed", "Jobs that completed", "type")
        self.failed = t.tally("livejobs_jobs_failed", "Jobs that failed for good", "type")
        self.attempts_failed = t.tally(
            "livejobs_attempts_failed", "Failed attempts, retried or not", "type"
        )
        self.cancelled = t.tally("livejobs_jobs_cancelled", "Jobs cancelled", "type")
        self.dispatched = t.tally("livejobs_jobs_dispatched", "Jobs pushed to workers", "type")
        self.dispatch_latency = t.spread(
            "livejobs_dispatch_latency_seconds",
            "From ready to pushed to a worker",
            LATENCY_BUCKETS,
            "type",
        )
        self.run_time = t.spread(
            "livejobs_run_seconds", "From started to the end of the attempt", RUN_BUCKETS, "type"
        )
        self.feed_lag = t.spread(
            "livejobs_feed_lag_seconds",
            "From a change's commit to this server seeing it",
            LAG_BUCKETS,
        )
        self.feed_changes = t.tally("livejobs_feed_changes", "Changes read from the feed", "op")
        self.feed_lag_last = Gauge(
            "livejobs_feed_lag_last_seconds", "Lag of the latest change seen", registry=r
        )
        self.clients = Gauge("livejobs_clients", "Connected WebSocket clients", registry=r)
        self.workers = Gauge("livejobs_workers", "Registered workers", registry=r)
        self.subscriptions = Gauge("livejobs_subscriptions", "Open subscriptions", registry=r)
        self.minute = _MinuteGauges(r)
        self._sources: Sources | None = None
        #: the clock of the sources, read per change
        self._clock: Clock | None = None
        #: job id → (status, (number of failures, time of the last), when it became ready)
        self._seen: OrderedDict[str, tuple[str, Failed, float | None]] = OrderedDict()

    def bind(self, sources: Sources) -> None:
        self._sources = sources
        self._clock = sources.clock
        sources.dispatcher.on_dispatch.append(self.on_dispatch)

    def label(self, job_type: str) -> str:
        """``job_type`` as a label: itself while fewer than ``max_types`` are known."""
        types = self._types
        if job_type in types:
            return job_type
        if len(types) < self.max_types:
            types.add(job_type)
            return job_type
        return OTHER

    # -- fed by the change feed ------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Runs for every change of every job: plain strings and locals, not enum members."""
        op, job_id, doc = change
        self.feed_changes.inc(op)
        seen = self._seen
        if doc is None:
            if op == "delete" or op == "reset":
                seen.pop(job_id, None)
            return
        updated = doc["updated"]
        if self._clock is not None:
            self.feed_lag.observe(max(self._clock.now() - updated, 0.0))
        job_type, status = self.label(doc["type"]), doc["status"]
        failures = doc.get("failures") or []
        failed: Failed = (len(failures), failures[-1].get("time") if failures else None)
        previous = seen.pop(job_id, None)
        if previous is not None:
            prev_status, prev_failed, ready_since = previous
        elif op == "insert":
            self.created.inc(job_type)
            prev_status, prev_failed, ready_since = None, failed, None
        else:
            # first sight of an older job (or one evicted): count only what just happened
            fresh = bool(failures) and failed[1] == updated
            prev_failed = (failed[0] - (1 if fresh else 0), None if fresh else failed[1])
            finished_now = status in FINISHED and doc.get("finished") == updated
            if finished_now and status != _CANCELLED:
                prev_status = _RUNNING  # completed and failed only come from running
            else:
                prev_status = "unknown" if finished_now else status
            ready_since = None
        if status != prev_status:
            self._transition(doc, prev_status)
        if failed[0] > prev_failed[0]:
            self.attempts_failed.inc(job_type, failed[0] - prev_failed[0])
        elif failed[0] and failed[1] != prev_failed[1]:  # the newest replaced the oldest
            self.attempts_failed.inc(job_type)  # (a job keeps bounds.MAX_FAILURES)
        if status != _READY:
            ready_since = None
        elif prev_status != _READY or ready_since is None:
            ready_since = updated
        seen[job_id] = (status, failed, ready_since)
        if len(seen) > TRACKED:
            seen.popitem(last=False)

    def _transition(self, doc: dict[str, Any], prev_status: str | None) -> None:
        job_type, status = self.label(doc["type"]), doc["status"]
        if status == _COMPLETED:
            self.completed.inc(job_type)
        elif status == _FAILED:
            self.failed.inc(job_type)
        elif status == _CANCELLED:
            self.cancelled.inc(job_type)
        if prev_status == _RUNNING and doc.get("started") is not None:
            self.run_time.observe(max(doc["updated"] - doc["started"], 0.0), job_type)

    # -- fed by the dispatcher ---------------------------------------------------------------

    def on_dispatch(self, job: dict[str, Any], worker: Worker) -> None:
        job_type = self.label(job["type"])
        self.dispatched.inc(job_type)
        seen = self._seen.get(job["id"])
        ready = (
            seen[2]
            if seen is not None and seen[2] is not None
            else max(job["created"], job["after"])
        )
        self.dispatch_latency.observe(max(job["started"] - ready, 0.0), job_type)

    # -- at scrape time ----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Set the gauges that describe the store and the connections right now."""
        sources = self._sources
        if sources is None:
            return
        counts = {
            status: await sources.store.count_by("type", {"status": status.value})
            for status in Status
        }
        self.jobs.clear()
        for status, by_type in counts.items():
            folded: dict[str, int] = {}
            for job_type, n in by_type.items():
                label = self.label(job_type)
                folded[label] = folded.get(label, 0) + n
            for label, n in folded.items():
                self.jobs.labels(label, status.value).set(n)
        if self.feed_lag.last is not None:
            self.feed_lag_last.set(self.feed_lag.last)
        self.clients.set(len(sources.sessions))
        self.workers.set(len(sources.dispatcher.workers))
        self.subscriptions.set(len(sources.subscriptions))
        if sources.history is not None:
            self.minute.set(await sources.history.last_minute(), self.label)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _MinuteGauges:
    """The last complete minute of ``stats.history``, all servers' counts together: the same
    numbers as its last point (types folded as the other families' labels)."""

    def __init__(self, r: CollectorRegistry) -> None:
        about = "in the last complete minute, all servers (as stats.history)"
        self.events = Gauge(
            "livejobs_minute_jobs", f"Jobs per event {about}", ["type", "event"], registry=r
        )
        self.depth = Gauge(
            "livejobs_minute_queue_depth", f"Mean ready jobs {about}", ["type"], registry=r
        )
        self.failure_rate = Gauge(
            "livejobs_minute_failure_rate",
            f"Failed attempts per attempt {about}",
            ["type"],
            registry=r,
        )
        self.times = {
            name: Gauge(
                f"livejobs_minute_{name}_seconds",
                f"{title} time quantiles {about}",
                ["type", "quantile"],
                registry=r,
            )
            for name, title in (("wait", "Wait"), ("run", "Run"))
        }

    def set(self, by_type: dict[str, rollups.Counts], label: Any) -> None:
        folded: dict[str, rollups.Counts] = {}
        for job_type, counts in by_type.items():
            rollups.add(folded.setdefault(label(job_type), {}), counts)
        for gauge in (self.events, self.depth, self.failure_rate, *self.times.values()):
            gauge.clear()
        for job_type, counts in folded.items():
            point = rollups.point(0.0, counts, rollups.STEP["minute"])
            for event in rollups.EVENTS:
                self.events.labels(job_type, event).set(point[event])
            if point["depth"] is not None:
                self.depth.labels(job_type).set(point["depth"])
            if point["failure_rate"] is not None:
                self.failure_rate.labels(job_type).set(point["failure_rate"])
            for name, gauge in self.times.items():
                for q in rollups.QUANTILES:
                    value = point[name][f"p{round(q * 100)}"]
                    if value is not None:
                        gauge.labels(job_type, str(q)).set(value)
