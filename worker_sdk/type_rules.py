"""A job type's (a queue's) rules from the SDK: paused or not, its limits, the defaults of its
new jobs and how its finished jobs are kept, as the server's ``types.*`` methods set them.
``Client`` takes these calls from ``TypeRulesCalls``.

The server's ``types.set_limits`` replaces every limit and ``types.set_retry`` a whole policy,
so ``set_type_limits`` reads the type's rules, changes only the limits named and sends the
change at the revision it read (``rev``); when someone changed the rules in between, the
server refuses it (``conflict``) and the change is made again from what is stored now.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

from livejobs_sdk.errors import CallError

#: the limits ``types.set_limits`` sets (a limit left out of it is removed)
LIMITS = (
    "rate_limit",
    "rate_per",
    "concurrency",
    "group_concurrency",
    "group_rate_limit",
    "group_rate_per",
)
#: reads of a type's rules before a change made from them gives up (others kept changing them)
CHANGE_ATTEMPTS = 5

#: at most ``count`` starts in any ``seconds`` seconds
Rate = tuple[int, float]


class Unchanged(enum.Enum):
    """``UNCHANGED``: a limit ``set_type_limits`` leaves as it is (its arguments' default)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class TypeRulesCalls:
    """The calls about one job type's rules (managers and admins change them; every role
    that may read the type's jobs may read them). Each change returns the type's rules."""

    #: the Client's: any protocol method
    call: Callable[..., Awaitable[Any]]

    async def types(self) -> list[dict[str, Any]]:
        """Every type with rules: ``{type, rev, paused, rate_limit, rate_per, concurrency,
        ...}`` as stored (``rev`` counts the changes of the type's rules)."""
        return list(await self.call("types.list", {}))

    async def type_rules(self, job_type: str) -> dict[str, Any]:
        """The rules of ``job_type`` (``{}``: it has none)."""
        return next((rules for rules in await self.types() if rules["type"] == job_type), {})

    async def pause_type(self, job_type: str) -> dict[str, Any]:
        """No server starts the type's jobs until ``resume_type`` (running ones finish)."""
        return dict(await self.call("types.pause", {"type": job_type}))

    async def resume_type(self, job_type: str) -> dict[str, Any]:
        return dict(await self.call("types.resume", {"type": job_type}))

    async def set_type_limits(
        self,
        job_type: str,
        *,
        rate: Rate | None | Unchanged = UNCHANGED,
        concurrency: int | None | Unchanged = UNCHANGED,
        group_rate: Rate | None | Unchanged = UNCHANGED,
        group_concurrency: int | None | Unchanged = UNCHANGED,
    ) -> dict[str, Any]:
        """Change the limits named and keep the others: ``rate=(100, 60)``, at most 100
        starts in any 60 seconds, and ``concurrency=5``, at most five running, both across
        every server; the ``group_`` limits the same for each group of the type's jobs
        (``Job.group``). ``None`` removes a limit."""
        named: dict[str, Any] = {}
        for prefix, given in (("", rate), ("group_", group_rate)):
            if given is not UNCHANGED:
                limit, per = (None, None) if given is None else given
                named |= {f"{prefix}rate_limit": limit, f"{prefix}rate_per": per}
        if concurrency is not UNCHANGED:
            named["concurrency"] = concurrency
        if group_concurrency is not UNCHANGED:
            named["group_concurrency"] = group_concurrency

        def limits_from(current: dict[str, Any]) -> dict[str, Any]:
            limits = {name: current.get(name) for name in LIMITS} | named
            return {name: value for name, value in limits.items() if value is not None}

        return await self.change_type_rules(job_type, "types.set_limits", limits_from)

    async def change_type_rules(
        self,
        job_type: str,
        method: str,
        params_of: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """``method`` (a ``types.set_*``) with the params ``params_of`` makes from the type's
        rules as read (``{}``: none), sent at the revision read; made again from the rules as
        stored when another change came in between."""
        for _ in range(CHANGE_ATTEMPTS):
            current = await self.type_rules(job_type)
            params = {**params_of(current), "type": job_type, "rev": current.get("rev", 0)}
            try:
                return dict(await self.call(method, params))
            except CallError as exc:
                if exc.code != "conflict":
                    raise
        raise CallError("conflict", f"the rules of {job_type} kept changing meanwhile; try again")

    async def set_type_retry(self, job_type: str, policy: dict[str, Any] | None) -> dict[str, Any]:
        """The retry policy (``{"retries", "wait", "backoff", "max_wait"}``) of the type's
        jobs created without one; None removes it."""
        params: dict[str, Any] = {"type": job_type}
        if policy is not None:
            params["retry"] = policy
        return dict(await self.call("types.set_retry", params))

    async def set_type_time_limit(self, job_type: str, seconds: float | None) -> dict[str, Any]:
        """The time limit of the type's jobs created without one (``Job.time_limit``): an
        attempt running longer is stopped and failed. None removes it."""
        params: dict[str, Any] = {"type": job_type}
        if seconds is not None:
            params["time_limit"] = seconds
        return dict(await self.call("types.set_time_limit", params))

    async def set_type_retain(self, job_type: str, seconds: float | None) -> dict[str, Any]:
        """Keep finished jobs of ``job_type`` for ``seconds`` (None: the server's default)."""
        return dict(await self.call("types.set_retain", {"type": job_type, "retain": seconds}))

    async def set_type_keep(
        self,
        job_type: str,
        *,
        completed: int | None = None,
        failed: int | None = None,
        cancelled: int | None = None,
    ) -> dict[str, Any]:
        """Keep only the newest ``completed`` (``failed``, ``cancelled``) finished jobs of
        ``job_type``; the server removes older ones, as BullMQ's ``removeOnComplete: {count}``.
        A status not named keeps its jobs for their retention time; none named removes the
        rule."""
        counts = {"completed": completed, "failed": failed, "cancelled": cancelled}
        keep = {status: n for status, n in counts.items() if n is not None}
        return dict(await self.call("types.set_keep", {"type": job_type, "keep": keep or None}))

    async def obliterate(
        self, job_type: str, force: bool = False, reason: str | None = None
    ) -> dict[str, int]:
        """Remove every job of ``job_type`` and its rules (managers and admins), as BullMQ's
        ``obliterate``. Refused (``conflict``) while some of its jobs run, unless ``force``:
        then they are cancelled too. Returns ``{cancelled, removed, kept}``."""
        params: dict[str, Any] = {"type": job_type, "force": force}
        if reason is not None:
            params["reason"] = reason
        return dict(await self.call("types.obliterate", params))
