"""Which fields of a job each role may read, filter on and sort by: one allow-list, as data.

Every job document that leaves the server passes ``project`` (``jobs.get``, ``jobs.find``, the
replies of create and control calls, HTTP, subscription frames, pushed work) and every filter or
sort from a client passes ``check_filter`` / ``check_sort`` (``jobs.find``, ``jobs.counts``,
``subscribe``). A field not in ``FIELDS`` reaches nobody, so a new field stays private until it is
added here (and to docs/security.md, whose table a test compares with this one).

The roles are the token's role, plus two readings by a worker: ``holder``, the worker a job is
leased to, reading it in its own claim reply or push (only the holder reads the lease token and,
besides admins, ``private``); and ``held``, a worker reading with ``jobs.get``/``jobs.find`` a
job it runs or ran (``view``): its data and result, not its secrets. Which rows a role sees at
all is ``Permissions.read_scope`` (a creator its own jobs, a worker the types it may claim).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livejobs import search
from livejobs.errors import Forbidden, Invalid
from livejobs.jobs.model import Job
from livejobs.roles import ROLES, STAFF

HOLDER = "holder"
HELD = "held"
READERS = (*ROLES, HELD, HOLDER)

_ALL = frozenset(READERS)
_OWNERS = frozenset({"admin", "manager", "creator", HELD, HOLDER})
_STAFF = STAFF | {HOLDER}
#: what names other workers (earlier attempts, exclusions): not for a worker re-reading its job
_OWNERS_NOT_HELD = _OWNERS - {HELD}
_NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Field:
    """``read``: roles that receive the field; ``filter``: roles that may filter and sort on
    it (holder and held never filter: they are readings, not callers). ``sub``: for an object
    (or a list of objects), the same for each of its keys; keys not listed are dropped."""

    read: frozenset[str]
    filter: frozenset[str]
    sub: Mapping[str, Field] = field(default_factory=dict)
    doc: str = ""
    #: False: never in subscription frames, whoever reads them (a dashboard keeps every job it
    #: is sent in a browser tab; secrets are fetched one job at a time, on purpose)
    live: bool = True


def _f(read: frozenset[str], filter: frozenset[str] | None = None, **kw: Any) -> Field:
    return Field(read, (read if filter is None else filter) - {HOLDER, HELD}, **kw)


_QUEUE = "what any reader of the job's type sees: where it is in the queue"
_OWNED = "the owner's business: input, output and history"
_WORKERS = (
    "worker identities: never to other workers; the owner reads who ran its job, as its log says"
)

FIELDS: dict[str, Field] = {
    "id": _f(_ALL, doc=_QUEUE),
    "type": _f(_ALL, doc=_QUEUE),
    "status": _f(_ALL, doc=_QUEUE),
    "priority": _f(_ALL, doc=_QUEUE),
    "lifo": _f(_ALL, doc=_QUEUE),
    "attempts": _f(_ALL, doc=_QUEUE),
    "after": _f(_ALL, doc=_QUEUE),
    "progress": _f(_ALL, doc=_QUEUE),
    "retry": _f(_ALL, doc=_QUEUE),
    "repeat": _f(_ALL, doc=_QUEUE),
    "expire_at": _f(_ALL, doc=_QUEUE),
    "reason": _f(_ALL, doc=_QUEUE),
    "created": _f(_ALL, doc=_QUEUE),
    "updated": _f(_ALL, doc=_QUEUE),
    "started": _f(_ALL, doc=_QUEUE),
    "finished": _f(_ALL, doc=_QUEUE),
    "version": _f(_ALL, doc=_QUEUE),
    "due": _f(_STAFF, doc="the scheduler's next look at the job"),
    "followups": _f(_STAFF, doc="what the job's finish still owes: its next run, its dependants"),
    "data": _f(_OWNERS, doc=_OWNED),
    "result": _f(_OWNERS, doc=_OWNED),
    "log": _f(_OWNERS_NOT_HELD, doc=_OWNED + "; it names the workers of every attempt"),
    "owner": _f(_OWNERS, doc=_OWNED),
    "key": _f(_OWNERS, doc=_OWNED),
    "unique_for": _f(_OWNERS, doc=_OWNED),
    "debounce": _f(_OWNERS, doc=_OWNED),
    "retain": _f(_OWNERS, doc=_OWNED),
    "keep": _f(_OWNERS, doc=_OWNED),
    "depends": _f(_OWNERS, doc=_OWNED),
    "dependants": _f(_OWNERS, doc=_OWNED),
    "time_limit": _f(_ALL, doc=_QUEUE),
    "group": _f(_OWNERS, doc=_OWNED),
    "results": _f(_OWNERS, doc=_OWNED + ": each completed dependency's result, for its worker"),
    "failures": _f(
        _OWNERS,
        _STAFF,
        sub={
            "time": _f(_OWNERS, _STAFF),
            "error": _f(_OWNERS, _STAFF),
            "attempt": _f(_OWNERS, _STAFF),
            "worker": _f(_OWNERS_NOT_HELD, _STAFF),
        },
        doc="each failed attempt and the worker that failed it",
    ),
    "private": _f(
        frozenset({"admin", HOLDER}),
        doc="secrets for the worker: the holder, and admins one job at a time",
        live=False,
    ),
    "lease": _f(
        _OWNERS,
        _STAFF,
        sub={
            "worker": _f(_OWNERS, _STAFF),
            "expires": _f(_OWNERS, _STAFF),
            "deadline": _f(_OWNERS, _STAFF, doc="when a time-limited attempt is stopped"),
            "token": _f(frozenset({HOLDER}), doc="proves the holder: nobody else, ever"),
        },
        doc="while running: its expiry and worker; its token for the holder only",
    ),
    "trace": _f(
        _OWNERS,
        _STAFF,
        doc="the creator's trace context, for the worker's spans: never in subscriptions",
        live=False,
    ),
    "worker": _f(_OWNERS, _STAFF, doc=_WORKERS),
    "target": _f(_OWNERS, _STAFF, doc=_WORKERS),
    "exclude": _f(_OWNERS_NOT_HELD, _STAFF, doc=_WORKERS),
}


class _Plan:
    """What one role keeps. Documents from the store hold exactly the fields of ``FIELDS``, so
    the fast path copies the document and drops the few fields the role may not read (a change
    to a thousand subscribers is projected once per view, but every pushed job is projected
    too); anything else is rebuilt from the allowed names. ``subs``: the fields whose keys the
    role reads only some of."""

    __slots__ = ("fields", "drop", "subs")

    def __init__(self, role: str, live: bool) -> None:
        self.fields = frozenset(
            name for name, f in FIELDS.items() if role in f.read and (f.live or not live)
        )
        self.drop = tuple(name for name in FIELDS if name not in self.fields)
        self.subs = tuple(
            (name, kept)
            for name, f in FIELDS.items()
            if f.sub and name in self.fields
            for kept in [tuple(k for k, s in f.sub.items() if role in s.read)]
            if len(kept) < len(f.sub)
        )


_PLANS: dict[str, _Plan] = {role: _Plan(role, live=False) for role in READERS}
_LIVE_PLANS: dict[str, _Plan] = {role: _Plan(role, live=True) for role in READERS}
_KNOWN = frozenset(FIELDS)


def project(doc: Job, role: str, *, live: bool = False) -> Job:
    """``doc`` as ``role`` may read it (unknown role: nothing); ``live``: in a subscription
    frame. A new dict, or ``doc`` itself when the role reads all of it (the holder): callers
    encode it, never change it."""
    plan = (_LIVE_PLANS if live else _PLANS).get(role)
    if plan is None:
        return {}
    if doc.keys() <= _KNOWN:
        if not plan.drop and not plan.subs:
            return doc
        out = doc.copy()
        for name in plan.drop:
            out.pop(name, None)
    else:
        fields = plan.fields
        out = {name: value for name, value in doc.items() if name in fields}
    for name, keep in plan.subs:
        value = out.get(name)
        if value:  # None and [] stay as they are
            out[name] = _kept(value, keep)
    return out


def _kept(value: Any, keep: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: value[k] for k in keep if k in value}
    if isinstance(value, list):
        return [_kept(item, keep) for item in value]
    return value


def view(doc: Job, role: str, worker_ids: Collection[str] = (), user: str | None = None) -> Job:
    """``doc`` as a caller of ``role`` reads it; a worker reads more of a job it runs or ran:
    its ``worker`` is one of ``worker_ids`` (the ids the server gave this caller), or is under
    ``user``'s name (worker ids are bound to their user as ``user/name``)."""
    if role == "worker":
        worker = doc.get("worker")
        if worker in worker_ids or (
            user is not None and isinstance(worker, str) and worker.startswith(f"{user}/")
        ):
            role = HELD
    return project(doc, role)


# -- filters and sorts ----------------------------------------------------------------------


def may_filter(path: str, role: str) -> bool:
    """Whether ``role`` may filter or sort on ``path`` (a path ``parse_filter`` accepted)."""
    head, _, rest = path.partition(".")
    f = FIELDS.get(head)
    if f is None or role not in f.filter:
        return False
    if not f.sub or not rest:
        return True
    segments = rest.split(".")
    if segments[0].isdigit():  # an index into a list of objects
        segments = segments[1:]
    if not segments:
        return True
    sub = f.sub.get(segments[0])
    return sub is not None and role in sub.filter


def check_path(path: str, role: str) -> None:
    """Raise unless ``role`` may filter or sort on ``path``; the message names only the field."""
    if may_filter(path, role):
        return
    if path.partition(".")[0] not in FIELDS:
        raise Invalid(f"no job field {path.partition('.')[0]!r} to filter or sort on")
    raise Forbidden(f"a {role} may not filter or sort on {path!r}")


def check_filter(filter: Mapping[str, Any], role: str) -> None:
    """Every field a parsed filter names, through ``$and``/``$or``."""
    for key, value in filter.items():
        if key in ("$and", "$or"):
            for sub in value:
                check_filter(sub, role)
        elif key == "$search":  # reads each searched field
            for field in search.FIELDS:
                check_path(field, role)
        else:
            check_path(key, role)


def check_sort(sort: Iterable[tuple[str, int]], role: str) -> None:
    for path, _ in sort:
        check_path(path, role)


# -- the table, for docs/security.md ---------------------------------------------------------

_COLUMNS = READERS


def table() -> str:
    """The allow-list as a Markdown table: R read, F filter and sort, - neither; the last
    column says whether the field travels in subscription frames at all."""
    head = "| field | " + " | ".join(_COLUMNS) + " | in subscriptions |"
    rows = [head, "|" + " --- |" * (len(_COLUMNS) + 2)]
    for name, f in FIELDS.items():
        rows.append(_row(f"`{name}`", f, f.live))
        for key, sub in f.sub.items():
            rows.append(_row(f"`{name}.{key}`", sub, f.live))
    return "\n".join(rows)


def _row(label: str, f: Field, live: bool) -> str:
    cells = [("R" if r in f.read else "-") + ("F" if r in f.filter else "") for r in _COLUMNS]
    return f"| {label} | " + " | ".join(cells) + f" | {'yes' if live else 'no'} |"


if __name__ == "__main__":  # the table for docs/security.md
    print(table())
