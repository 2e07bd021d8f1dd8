"""What a run measures (``Plan``: the full one and ``--quick``) and how it keeps to its time
budget (``Run``): a unit of work that would end past the budget is skipped and said so."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fanout import Load


@dataclass(frozen=True)
class Plan:
    n: int  # jobs per throughput run (times the peer's share)
    samples: int  # dispatch latency probes
    saves: int  # sequential saves per run
    repeats: int
    loads: list[Load]  # the fan-out steps
    levels: list[int]  # the scale levels
    budget_s: float
    quick: bool = False


FULL = Plan(
    20_000,
    500,
    2_000,
    3,
    [Load(1_000, 500, 20.0), Load(1_000, 500, 10.0, idle=9_000)],
    [1_000, 100_000, 1_000_000],
    600,
)
QUICK = Plan(
    2_000,
    100,
    300,
    1,
    [Load(200, 100, 5.0), Load(200, 100, 3.0, idle=1_800)],
    [1_000, 100_000],
    150,
    quick=True,
)


@dataclass
class Run:
    plan: Plan
    started: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)
    failed: bool = False
    #: seconds the last run of each (peer, scenario) took: the estimate for its next one
    took: dict[tuple[str, str], float] = field(default_factory=dict)
    #: repetitions each per-peer scenario actually ran (the budget may cut the last ones)
    ran: dict[str, int] = field(default_factory=dict)

    def failure(self, what: str, exc: Exception) -> dict[str, str]:
        self.failed = True
        self.notes.append(f"{what} failed: {exc}")
        return {"error": str(exc)}

    def repeated(self, scenario: str, rep: int) -> None:
        """Repetition ``rep`` (from 0) of ``scenario`` ran."""
        self.ran[scenario] = max(self.ran.get(scenario, 0), rep + 1)

    def fits(self, what: str, cost_s: float) -> bool:
        """Whether ``what`` (estimated at ``cost_s``) still fits in the budget."""
        if time.monotonic() - self.started + cost_s <= self.plan.budget_s:
            return True
        self.notes.append(
            f"skipped {what}: the {self.plan.budget_s:.0f} s budget would be exceeded"
        )
        return False
