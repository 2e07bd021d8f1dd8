"""The service layer: the only callers of the store.

A method handler (``livejobs.methods``), the dispatcher and the scheduler call ``JobService``;
each operation loads the job, applies a pure transition from ``livejobs.jobs.lifecycle`` and
writes it back with a compare-and-set on ``version``. What follows a finish (the next run of a
repeating job, dependants becoming ready or cancelled) happens here too, so it happens once, in
the call that caused it. The service takes domain values (``NewJob``), never wire types: the
method layer converts a call's params.

- ``core``: reads, the compare-and-set loop, control actions, what follows a finish, the timer
- ``create``: building and inserting new jobs (dependencies, debounce, request ids)
- ``work``: the worker's side (claim, heartbeat, progress, log, done, fail, snooze)
- ``by_filter``: the calls by filter (clean, drain) and a type obliterated
"""

from __future__ import annotations

from livejobs.service.by_filter import ByFilter
from livejobs.service.core import ACTIONS, LEASE_EXPIRED, Transition, Visible
from livejobs.service.create import Creating, Debounce, NewJob
from livejobs.service.work import Working

__all__ = ["ACTIONS", "LEASE_EXPIRED", "Debounce", "JobService", "NewJob", "Transition", "Visible"]


class JobService(Creating, Working, ByFilter):
    """Every job operation over one store; built once by the app's lifespan."""
