"""The worker's side of ``JobService``: claim within the types' flow limits, then heartbeat,
progress, log and one final report (done, fail or snooze) under the lease token."""

from __future__ import annotations

from typing import Any

import msgspec

from livejobs.errors import Conflict, NotFound, TooLarge
from livejobs.jobs import lifecycle
from livejobs.jobs.flow import KIND as FLOW_RULES
from livejobs.jobs.model import Job
from livejobs.service.core import JobCore, log_failure
from livejobs.store.base import ClaimRequest


class Working(JobCore):
    """The worker half of ``JobService``."""

    async def claim(
        self, types: list[str], worker_id: str, user: str, limit: int, lease: float | None = None
    ) -> list[Job]:
        """Start up to ``limit`` jobs for one worker, within the types' flow limits."""
        request = ClaimRequest(
            types=tuple(types),
            worker_id=worker_id,
            user=user,
            now=self.clock.now(),
            lease_seconds=lease or self.lease,
            limit=limit,
            rules=FLOW_RULES,
        )
        claimed = await self.store.claim(request)
        self._wrote("ready", claimed)
        return claimed

    async def heartbeat(
        self, job_id: str, token: str, lease: float | None = None, doc: Job | None = None
    ) -> float:
        seconds = lease or self.lease
        new = await self.transition(
            job_id,
            lambda d: lifecycle.heartbeat(
                d, lease_token=token, now=self.clock.now(), lease_seconds=seconds
            ),
            doc,
        )
        return float(new["lease"]["expires"])

    async def progress(
        self, job_id: str, token: str, completed: float, total: float, doc: Job | None = None
    ) -> None:
        await self.transition(
            job_id,
            lambda d: lifecycle.progress(
                d, lease_token=token, completed=completed, total=total, now=self.clock.now()
            ),
            doc,
        )

    async def update_data(
        self, job_id: str, token: str, data: Any, merge: bool, doc: Job | None = None
    ) -> Job:
        def change(current: Job) -> Job:
            new = lifecycle.update_data(
                current, lease_token=token, data=data, merge=merge, now=self.clock.now()
            )
            if len(msgspec.json.encode(new["data"])) > self.max_data:  # merged, too
                raise TooLarge(f"data is larger than {self.max_data} bytes")
            return new

        return await self.transition(job_id, change, doc)

    async def log(
        self,
        job_id: str,
        token: str | None,
        message: str,
        level: str,
        data: Any,
        by: str,
        doc: Job | None = None,
    ) -> None:
        await self.transition(
            job_id,
            lambda d: lifecycle.log(
                d,
                lease_token=token,
                message=message,
                level=level,
                data=data,
                by=by,
                now=self.clock.now(),
                limits=self.limits,
            ),
            doc,
        )

    async def done(
        self, job_id: str, token: str, result: Any, by: str, doc: Job | None = None
    ) -> None:
        if result is not None and len(msgspec.json.encode(result)) > self.max_data:
            raise TooLarge(f"result is larger than {self.max_data} bytes")
        await self.transition(
            job_id,
            lambda d: lifecycle.complete(
                d,
                lease_token=token,
                result=result,
                by=by,
                now=self.clock.now(),
                default_retain=self.retain_for(d["type"]),
            ),
            doc,
        )

    async def fail(
        self, job_id: str, token: str, error: Any, fatal: bool, by: str, doc: Job | None = None
    ) -> None:
        new = await self.transition(
            job_id,
            lambda d: lifecycle.fail(
                d,
                error=error,
                by=by,
                now=self.clock.now(),
                fatal=fatal,
                lease_token=token,
                default_retain=self.retain_for(d["type"]),
                limits=self.limits,
            ),
            doc,
        )
        log_failure(new, by)

    async def snooze(
        self, job_id: str, token: str, seconds: float, by: str, doc: Job | None = None
    ) -> None:
        await self.transition(
            job_id,
            lambda d: lifecycle.snooze(
                d, lease_token=token, seconds=seconds, by=by, now=self.clock.now()
            ),
            doc,
        )

    async def hand_back(self, job_id: str, token: str) -> None:
        """A claimed job its worker never started goes back as it was (attempt not counted)."""
        try:
            await self.snooze(job_id, token, 0, "server")
        except (Conflict, NotFound):
            pass

    async def worker_lost(self, job_id: str, token: str, worker_id: str) -> None:
        """The worker holding ``token`` disconnected: the attempt failed, retry per policy."""
        try:
            new = await self.transition(
                job_id,
                lambda d: lifecycle.fail(
                    d,
                    error="worker lost",
                    by="server",
                    now=self.clock.now(),
                    lease_token=token,
                    reason="worker lost",
                    default_retain=self.retain_for(d["type"]),
                ),
            )
        except (Conflict, NotFound):
            pass  # finished or re-leased meanwhile: nothing to take back
        else:
            log_failure(new, "server")
