"""The jobs a job leaves behind: the next run of a repeating job and a rerun's copy (pure)."""

from __future__ import annotations

from livejobs.jobs import schedule
from livejobs.jobs.bounds import append_log
from livejobs.jobs.lifecycle import copy_doc, require_status, settle
from livejobs.jobs.model import Job, Status


def _fresh(doc: Job, *, new_id: str, now: float, after: float) -> Job:
    """A new job with ``doc``'s inputs and settings and none of its history."""
    new = copy_doc(doc)
    new.update(
        id=new_id, status=Status.WAITING.value, attempts=0, after=after, result=None,
        failures=[], lease=None, worker=None, reason=None, created=now, updated=now,
        started=None, finished=None, version=1, dependants=[], log=[], trace=None, results={},
        progress={"completed": 0, "total": 0, "percent": 0.0},
    )  # fmt: skip
    return new


def rerun_copy(doc: Job, *, by: str, now: float, new_id: str) -> Job:
    """A completed job's inputs copied into a fresh job (job-collection's rerun)."""
    require_status(doc, {Status.COMPLETED}, "rerun")
    new = _fresh(doc, new_id=new_id, now=now, after=now)
    new.update(depends=[], key=None, repeat=None)
    append_log(new, now=now, by=by, message=f"created as a rerun of {doc['id']}")
    return settle(new, now, None)


def next_repeat(doc: Job, *, now: float, new_id: str) -> Job | None:
    """After a repeating job completes: its next run, or None when times/until are reached
    or its cron has no later date."""
    rep = doc["repeat"]
    if not rep:
        return None
    run = int(rep.get("run", 1)) + 1
    if rep.get("times") is not None and run > int(rep["times"]):
        return None
    at = schedule.next_run(rep, scheduled=doc["after"], now=now)
    if at is None or (rep.get("until") is not None and at > float(rep["until"])):
        return None
    new = _fresh(doc, new_id=new_id, now=now, after=at)
    new["repeat"] = {**rep, "run": run}
    append_log(new, now=now, by="server", message=f"run {run} of repeating job, after {doc['id']}")
    return settle(new, now, None)
