"""Example rules module for ``--rules tests.rules_example:RULES`` (see livejobs.permissions)."""

from __future__ import annotations

from typing import Any


def too_big(identity: Any, method: str, params: dict[str, Any], job: Any) -> bool:
    data = params.get("data")
    return method == "jobs.create" and isinstance(data, dict) and data.get("size", 0) > 1000


def reports_are_not_cancelled(identity: Any, method: str, params: dict[str, Any], job: Any) -> bool:
    return method == "jobs.cancel" and job is not None and job["type"] == "report"


def ledgers_are_not_removed(identity: Any, method: str, params: dict[str, Any], job: Any) -> bool:
    return method == "jobs.remove" and job is not None and job["type"] == "ledger"


def ledger_priorities_are_fixed(
    identity: Any, method: str, params: dict[str, Any], job: Any
) -> bool:
    return method == "jobs.set_priority" and job is not None and job["type"] == "ledger"


def diaries_are_not_read_by_managers(
    identity: Any, method: str, params: dict[str, Any], job: Any
) -> bool:
    return (
        method == "jobs.get"
        and identity.role == "manager"
        and job is not None
        and job["type"] == "diary"
    )


class RULES:
    allow: list[Any] = []
    deny = [
        too_big,
        reports_are_not_cancelled,
        ledgers_are_not_removed,
        ledger_priorities_are_fixed,
        diaries_are_not_read_by_managers,
    ]
