"""Scenario 4, livejobs only: do create and claim stay flat as the store grows?

One fresh server; the store is filled to each level in turn (1,000 → 100,000 → 1,000,000 jobs,
all ``ready`` and of the type being claimed, so the claim query has the whole pile to order),
and at each level we time, one call at a time, ``SAMPLES`` creates and ``SAMPLES`` claims of
one job. Seeding goes through ``create_many`` at the server's batch limit, like any client.

The levels can only be measured one after the other, so a machine that slows down meanwhile
(another tenant on the host) would look like a store that slows down as it grows. Beside the
growing server runs a reference server that stays at the first level; each timed call to the
growing one is paired with the same call to the reference, and the report gives their ratio.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livejobs_sdk import Client
from services import Backend

TYPE = "stored"
SEED_BATCH = 10_000  # the server's max_batch
SEED_IN_FLIGHT = 2
SAMPLES = 200


def run(
    backend: Backend, reference: Backend, levels: list[int], samples: int = SAMPLES
) -> list[dict[str, Any]]:
    return asyncio.run(_run(backend, reference, levels, samples))


CREATE = ("jobs.create", {"type": TYPE, "data": {"i": -1}})
CLAIM = ("jobs.claim", {"types": [TYPE], "limit": 1, "lease": 3600})


async def _run(
    backend: Backend, reference: Backend, levels: list[int], samples: int
) -> list[dict[str, Any]]:
    results = []
    stored = 0
    async with (
        Client(backend.url, token=backend.token) as client,
        Client(reference.url, token=reference.token) as ref,
    ):
        await _seed(ref, levels[0])
        for level in levels:
            started = time.perf_counter()
            await _seed(client, level - stored)
            seed_s = time.perf_counter() - started
            seeded = level - stored
            create, ref_create = await _paired(client, ref, *CREATE, samples)
            claim, ref_claim = await _paired(client, ref, *CLAIM, samples)
            stored = level + samples  # the claimed ones stay stored (running)
            results.append(
                {
                    "stored": level,
                    "seeded": seeded,
                    "seed_s": seed_s,
                    "create_ms": create,
                    "claim_ms": claim,
                    "ref_create_ms": ref_create,
                    "ref_claim_ms": ref_claim,
                }
            )
    return results


async def _paired(
    client: Client, ref: Client, method: str, params: dict[str, Any], samples: int
) -> tuple[list[float], list[float]]:
    """``samples`` calls to each server, alternating, so both see the same moments."""
    mine, theirs = [], []
    for _ in range(samples):
        mine.append(await _timed(client, method, params))
        theirs.append(await _timed(ref, method, params))
    return mine, theirs


async def _seed(client: Client, count: int) -> None:
    gate = asyncio.Semaphore(SEED_IN_FLIGHT)

    async def batch(first: int, size: int) -> None:
        async with gate:
            await client.create_many([(TYPE, {"i": first + k}) for k in range(size)])

    await asyncio.gather(
        *(batch(first, min(SEED_BATCH, count - first)) for first in range(0, count, SEED_BATCH))
    )


async def _timed(client: Client, method: str, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    await client.call(method, params)
    return (time.perf_counter() - started) * 1000
