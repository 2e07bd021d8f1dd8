"""The method table, as data: every method's name, params type, handler and permission groups.

Both edges (WebSocket and HTTP) call ``dispatch_call``, the single path of every call. Which
methods a role may call (``grants``), what a client is told it may call, and the names the SDK
and the dashboard know (``livejobs.names``) are all read off ``TABLE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livejobs import methods_admin as admin
from livejobs import methods_jobs as jobs
from livejobs import methods_stats as stats
from livejobs import methods_types as types
from livejobs import params as p
from livejobs.auth import Identity
from livejobs.context import Ctx, Handler, Services
from livejobs.errors import NotFound
from livejobs.roles import ROLE_GROUPS, Group
from livejobs.runtime.connection import Connection
from livejobs.service import ACTIONS

__all__ = ["METHODS", "TABLE", "Ctx", "Method", "Services", "dispatch_call", "grants"]


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    params: type[p.Params]
    #: None: answered by the connection itself (``auth``), never dispatched
    handler: Handler | None
    #: the permission groups it is in; a role granted any of them may call it (``livejobs.roles``)
    groups: tuple[Group, ...]
    #: safe to send again when its reply was lost: a read, or a create (by its ``request_id``)
    retry_safe: bool = False
    #: holds or ends a lease: a client keeps call slots for these, so work reports never wait
    lease: bool = False

    @property
    def creates(self) -> bool:
        """A create the server makes idempotent by ``request_id``."""
        return "request_id" in self.params.__struct_fields__


#: the control actions with options of their own
_CONTROL_PARAMS: dict[str, type[p.JobRefs]] = {
    "cancel": p.CancelRefs,
    "restart": p.RestartRefs,
    "ready": p.ReadyRefs,
    "set_priority": p.PriorityRefs,
    "set_delay": p.DelayRefs,
}


def _control(action: str) -> Method:
    kind = _CONTROL_PARAMS.get(action, p.JobRefs)
    return Method(f"jobs.{action}", kind, jobs.control(action), ("control",))


TABLE: tuple[Method, ...] = (
    Method("auth", p.Auth, None, ("session",)),
    Method("subscribe", p.Subscribe, jobs.subscribe, ("session",)),
    Method("unsubscribe", p.Unsubscribe, jobs.unsubscribe, ("session",)),
    # jobs: create and read
    Method("jobs.create", p.CreateJob, jobs.create, ("create",), retry_safe=True),
    Method("jobs.create_many", p.CreateMany, jobs.create_many, ("create",), retry_safe=True),
    Method("jobs.get", p.JobRef, jobs.get, ("read",), retry_safe=True),
    Method("jobs.find", p.Find, jobs.find, ("read",), retry_safe=True),
    Method("jobs.counts", p.Counts, jobs.counts, ("read",), retry_safe=True),
    Method("schedules.list", p.Empty, jobs.schedules_list, ("read",), retry_safe=True),
    # jobs: control (one id, or many for managers)
    *(_control(action) for action in ACTIONS),
    # finished jobs by filter, for managers and admins (``check_bulk``)
    Method("jobs.clean", p.Clean, jobs.clean, ("control",)),
    Method("jobs.drain", p.Drain, jobs.drain, ("control",)),
    # working
    Method("worker.start", p.WorkerStart, jobs.worker_start, ("work",), lease=True),
    Method("worker.stop", p.Empty, jobs.worker_stop, ("work",), lease=True),
    Method("worker.pause", p.Empty, jobs.worker_pause, ("work",)),
    Method("worker.resume", p.Empty, jobs.worker_resume, ("work",)),
    Method("jobs.claim", p.Claim, jobs.claim, ("work",)),
    Method("jobs.heartbeat", p.Heartbeat, jobs.heartbeat, ("work",), lease=True),
    # with a lease a worker's log line; without, a controller's note (``jobs.log``)
    Method("jobs.log", p.Log, jobs.log, ("work", "control")),
    Method("jobs.progress", p.Progress, jobs.progress, ("work",)),
    Method("jobs.update_data", p.UpdateData, jobs.update_data, ("work",)),
    Method("jobs.done", p.Done, jobs.done, ("work",), lease=True),
    Method("jobs.fail", p.Fail, jobs.fail, ("work",), lease=True),
    Method("jobs.snooze", p.Snooze, jobs.snooze, ("work",), lease=True),
    Method("workers.list", p.Empty, jobs.workers_list, ("observe",), retry_safe=True),
    Method("workers.watch", p.Empty, stats.workers_watch, ("observe",)),
    Method("stats.history", p.StatsHistory, stats.history, ("stats",), retry_safe=True),
    # flow control per type
    Method("types.list", p.Empty, types.types_list, ("read",), retry_safe=True),
    Method("types.watch", p.Empty, types.types_watch, ("read",)),
    Method("types.set_limits", p.TypeLimits, types.types_set_limits, ("types",)),
    Method("types.pause", p.TypeRef, types.types_pause, ("types",)),
    Method("types.set_retain", p.TypeRetain, types.types_set_retain, ("types",)),
    Method("types.set_keep", p.TypeKeep, types.types_set_keep, ("types",)),
    Method("types.resume", p.TypeRef, types.types_resume, ("types",)),
    Method("types.set_retry", p.TypeRetry, types.types_set_retry, ("types",)),
    Method("types.set_time_limit", p.TypeTimeLimit, types.types_set_time_limit, ("types",)),
    Method("types.obliterate", p.TypeObliterate, types.types_obliterate, ("types",)),
    # users and tokens
    Method("users.add", p.UserAdd, admin.users_add, ("admin",)),
    Method("users.remove", p.UserRef, admin.users_remove, ("admin",)),
    Method("users.list", p.Empty, admin.users_list, ("admin",), retry_safe=True),
    Method("tokens.create", p.TokenCreate, admin.tokens_create, ("admin",)),
    Method("tokens.list", p.TokenList, admin.tokens_list, ("admin",), retry_safe=True),
    Method("tokens.revoke", p.TokenRevoke, admin.tokens_revoke, ("admin",)),
)

#: name → (params type, handler) of every dispatched method
METHODS: dict[str, tuple[type[p.Params], Handler]] = {
    m.name: (m.params, m.handler) for m in TABLE if m.handler is not None
}


def grants() -> Mapping[str, frozenset[str]]:
    """Role → the methods it may call: those in any of the role's groups."""
    return {
        role: frozenset(m.name for m in TABLE if groups.intersection(m.groups))
        for role, groups in ROLE_GROUPS.items()
    }


async def dispatch_call(
    services: Services, identity: Identity, name: str, raw: Any, session: Connection | None
) -> Any:
    """Permission, params, handler: the single path of every call from every edge."""
    entry = METHODS.get(name)
    if entry is None:
        raise NotFound(f"unknown method {name!r}")
    kind, handler = entry
    if session is not None and session.worker is not None and session.worker.suspect:
        services.dispatcher.heard_from(session.worker)  # any call proves it alive again
    raw_params = raw if isinstance(raw, dict) else {}
    services.permissions.check(identity, name, raw_params)
    params = p.decode_params(raw, kind)
    return await handler(Ctx(identity, services, session, name, raw_params), params)
