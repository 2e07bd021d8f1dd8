"""May this identity make this call? Roles grant method groups; rules add allow and deny.

The roles are ``livejobs.roles``; which methods each may call (``grants``) is read off the
method table by ``livejobs.methods.grants`` and given here, so this module names no method but
the read every reference to a job is checked with. The lease token itself is checked by the
lifecycle. Extra rules are callables
``(identity, method, params, job) -> bool`` or declarative ``{role?, method?, type?}`` tables
from the settings; a matching deny always wins over any allow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livejobs.auth import Identity
from livejobs.errors import Forbidden
from livejobs.jobs.model import Job
from livejobs.roles import STAFF

#: role → the methods it may call (``livejobs.methods.grants()``)
Grants = Mapping[str, frozenset[str]]
#: the method whose permission says whether a caller may know a job exists
READ_ONE = "jobs.get"

Rule = Callable[[Identity, str, dict[str, Any], Job | None], bool]


def declarative(spec: dict[str, Any], *, deny: bool = False) -> Rule:
    """``{"role": "creator", "method": "jobs.create", "type": "reports"}``: all given keys match.

    ``type`` is the job's, else the params' ``type``, else each of the params' ``types`` (a
    claim, ``worker.start``): a deny rule matches when any of them is its type, an allow rule
    only when all are, so that allowing one type never lets a call of several through."""

    def rule(identity: Identity, method: str, params: dict[str, Any], job: Job | None) -> bool:
        if spec.get("role", identity.role) != identity.role:
            return False
        if spec.get("method", method) != method:
            return False
        if "type" not in spec:
            return True
        named = _types_named(params, job)
        if deny:
            return spec["type"] in named
        return bool(named) and all(job_type == spec["type"] for job_type in named)

    return rule


def _types_named(params: dict[str, Any], job: Job | None) -> list[Any]:
    """The job types a call is about, as far as its job or params say."""
    if job is not None:
        return [job["type"]]
    if "type" in params:
        return [params["type"]]
    types = params.get("types")
    return list(types) if isinstance(types, list) else []


@dataclass(slots=True)
class Rules:
    allow: list[Rule] = field(default_factory=list)
    deny: list[Rule] = field(default_factory=list)
    #: the declarative deny rules as written: reads by filter are narrowed by them (``read_scope``)
    deny_specs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, target: str | None, tables: dict[str, Any] | None = None) -> Rules:
        """From ``"module:attr"`` (an object with ``allow``/``deny`` lists of callables or
        dicts) and/or TOML tables ``{"allow": [...], "deny": [...]}``."""
        rules = cls()
        sources: list[Any] = []
        if target:
            module, _, attr = target.partition(":")
            sources.append(getattr(importlib.import_module(module), attr or "RULES"))
        if tables:
            sources.append(tables)
        for source in sources:
            for name, target_list in (("allow", rules.allow), ("deny", rules.deny)):
                found = (
                    source.get(name) if isinstance(source, dict) else getattr(source, name, None)
                )
                target_list.extend(_as_rule(rule, name == "deny") for rule in found or [])
                if name == "deny":
                    rules.deny_specs.extend(r for r in found or [] if isinstance(r, dict))
        return rules


def _as_rule(rule: Rule | dict[str, Any], deny: bool) -> Rule:
    return declarative(rule, deny=deny) if isinstance(rule, dict) else rule


class Permissions:
    def __init__(self, rules: Rules | None = None, *, grants: Grants) -> None:
        self.rules = rules or Rules()
        self.grants = grants

    def methods_for(self, identity: Identity) -> list[str]:
        """What to advertise to a client (the dashboard hides what it may not use)."""
        granted = self.grants.get(identity.role, frozenset())
        return sorted(m for m in granted if not self._denied(identity, m, {}, None))

    def check(
        self, identity: Identity, method: str, params: dict[str, Any], job: Job | None = None
    ) -> None:
        """Raise ``Forbidden`` unless the call is allowed; ``job`` given for per-job checks.
        (Every call passes here, some twice: no rules to run costs no generator.)"""
        if self.rules.deny and self._denied(identity, method, params, job):
            raise Forbidden(f"{method} is denied for {identity.user}")
        granted = method in self.grants.get(identity.role, frozenset()) and self._owns(
            identity, method, job
        )
        if not granted and not any(
            rule(identity, method, params, job) for rule in self.rules.allow
        ):
            what = f" on job {job['id']}" if job is not None else ""
            raise Forbidden(f"{identity.role} {identity.user!r} may not call {method}{what}")

    def may_read(self, identity: Identity, doc: Job) -> bool:
        """Whether ``identity`` may know the job exists: every reference to a job it may not
        read (an id, ``depends``, bulk ids) answers as for an id that does not exist."""
        try:
            self.check(identity, READ_ONE, {}, doc)
        except Forbidden:
            return False
        return True

    def reader(self, identity: Identity) -> Callable[[Job], bool] | None:
        """What a live read must ask of each job beyond its filter (None: nothing): a callable
        deny rule is a function of one job, which no filter can express."""
        if len(self.rules.deny) == len(self.rules.deny_specs):
            return None
        return lambda doc: self.may_read(identity, doc)

    def check_bulk(self, identity: Identity, method: str) -> None:
        if identity.role not in STAFF:
            raise Forbidden(f"bulk {method} is for managers and admins")

    def _denied(
        self, identity: Identity, method: str, params: dict[str, Any], job: Job | None
    ) -> bool:
        return any(rule(identity, method, params, job) for rule in self.rules.deny)

    @staticmethod
    def _owns(identity: Identity, method: str, job: Job | None) -> bool:
        if job is None or identity.role in STAFF:
            return True
        if identity.role == "creator":
            return bool(job["owner"] == identity.user)
        if identity.role == "worker":
            return identity.types is None or job["type"] in identity.types
        return False

    def check_types(self, identity: Identity, method: str, types: Iterable[str]) -> None:
        """A worker restricted to some types may only ask for those."""
        if identity.types is None or identity.role == "admin":
            return
        extra = sorted(set(types) - set(identity.types))
        if extra:
            raise Forbidden(f"{identity.user!r} may not work on {', '.join(extra)}")

    def read_scope(self, identity: Identity, method: str = READ_ONE) -> dict[str, Any] | None:
        """The filter every read by filter (``method``: ``jobs.find``, ``subscribe``, ...) by this
        identity is narrowed with (None: sees everything): its role's rows, less the types a
        declarative deny rule on ``jobs.get`` or on ``method`` hides from it, so that no read
        shows a job that ``jobs.get`` would answer ``not_found`` for."""
        scopes: list[dict[str, Any]] = []
        if identity.role == "creator":
            scopes.append({"owner": identity.user})
        elif identity.role == "worker" and identity.types is not None:
            scopes.append({"type": {"$in": list(identity.types)}})
        hidden = self._hidden_types(identity, method)
        if hidden is None:
            scopes.append(_NOTHING)
        elif hidden:
            scopes.append({"type": {"$nin": sorted(hidden)}})
        if not scopes:
            return None
        return scopes[0] if len(scopes) == 1 else {"$and": scopes}

    def type_filter(self, identity: Identity, method: str) -> Callable[[str], bool] | None:
        """Which types' rules this identity sees (None: every type's): those whose jobs it may
        read, so that a worker limited to some types, or a role a rule hides a type from, learns
        nothing of the others' queues (names, limits, pauses) either."""
        hidden = self._hidden_types(identity, method)
        limited = identity.role == "worker" and identity.types is not None
        if hidden is not None and not hidden and not limited:
            return None
        own = set(identity.types or ()) if limited else None
        return lambda job_type: (
            hidden is not None and job_type not in hidden and (own is None or job_type in own)
        )

    def _hidden_types(self, identity: Identity, method: str) -> set[str] | None:
        """The types declarative deny rules keep this identity from reading (None: all)."""
        hidden: set[str] = set()
        for spec in self.rules.deny_specs:
            if spec.get("role", identity.role) != identity.role:
                continue
            if spec.get("method", READ_ONE) not in (READ_ONE, method):
                continue
            if "type" not in spec:
                return None
            hidden.add(spec["type"])
        return hidden


def seen_rules(
    rules: list[dict[str, Any]], seen: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """The type records a caller sees (``Permissions.type_filter``)."""
    return rules if seen is None else [rule for rule in rules if seen(rule["type"])]


#: a filter no job matches: every job has an id
_NOTHING: dict[str, Any] = {"id": {"$exists": False}}
