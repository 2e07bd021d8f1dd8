"""Changes of one type's rules made at once never lose one another: each setter changes its
rules by compare-and-set on the record's revision (``FlowControl.change``), on one server or
several sharing a store; and a client that read the rules (``types.list``'s ``rev``) may make
its change conditional on them not having moved since (``conflict`` otherwise), which is how
``livejobs types limit`` and ``defaults`` keep someone else's change made in between."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from livejobs.cli import types as cli_types
from livejobs_sdk import Client
from livejobs_sdk.errors import CallError
from tests.servers import InProcessServer, started

#: one change per rule, each through its own setter
CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("types.set_limits", {"concurrency": 3}),
    ("types.set_retry", {"retry": {"retries": 4}}),
    ("types.set_time_limit", {"time_limit": 90}),
    ("types.set_retain", {"retain": 600}),
    ("types.set_keep", {"keep": {"failed": 7}}),
    ("types.pause", {}),
]


def all_set(rules: dict[str, Any]) -> bool:
    return (
        rules.get("concurrency") == 3
        and rules.get("retry") == {"retries": 4}
        and rules.get("time_limit") == 90
        and rules.get("retain") == 600
        and rules.get("keep") == {"failed": 7}
        and rules.get("paused") is True
    )


async def rules_of(client: Client, job_type: str) -> dict[str, Any]:
    return await cli_types.rules_of(client, job_type)


async def test_setters_called_at_once_on_one_server_keep_every_change(
    server: InProcessServer,
) -> None:
    async with server.client() as client:
        await asyncio.gather(
            *(client.call(method, {"type": "mail", **params}) for method, params in CHANGES)
        )
        rules = await rules_of(client, "mail")
    assert all_set(rules), rules
    assert rules["rev"] == len(CHANGES)


async def test_setters_called_at_once_on_two_servers_keep_every_change(tmp_path: Any) -> None:
    a = InProcessServer(tmp_path / "jobs.db")
    b = InProcessServer(tmp_path / "jobs.db")
    async with started(a, b), a.client() as one, b.client() as two:
        calls = [
            (one if n % 2 else two).call(method, {"type": "mail", **params})
            for n, (method, params) in enumerate(CHANGES)
        ]
        await asyncio.gather(*calls)
        for client in (one, two):
            assert all_set(await rules_of(client, "mail"))


async def test_a_change_at_a_stale_revision_is_refused(server: InProcessServer) -> None:
    async with server.client() as client:
        assert await rules_of(client, "mail") == {}  # no rules: revision 0
        first = await client.call("types.set_limits", {"type": "mail", "concurrency": 2, "rev": 0})
        assert first["rev"] == 1 and first["concurrency"] == 2
        with pytest.raises(CallError) as refused:  # someone else read revision 0 too
            await client.call("types.set_limits", {"type": "mail", "concurrency": 9, "rev": 0})
        assert refused.value.code == "conflict"
        assert "revision 0" in str(refused.value)
        assert (await rules_of(client, "mail"))["concurrency"] == 2
        again = await client.call("types.set_retain", {"type": "mail", "retain": 60, "rev": 1})
        assert again["rev"] == 2 and again["concurrency"] == 2 and again["retain"] == 60
        with pytest.raises(CallError) as refused:
            await client.call("types.set_retain", {"type": "mail", "rev": -1})
        assert refused.value.code == "invalid"
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        stale = await http.post("/api/call/types.set_limits", json={"type": "mail", "rev": 1})
        assert stale.status_code == 409, stale.text
        assert stale.json()["code"] == "conflict"


async def test_rules_removed_to_nothing_are_at_revision_zero_again(
    server: InProcessServer,
) -> None:
    """A type whose every rule was removed is left out of ``types.list``, as a type that never
    had any: a change at revision 0 applies to it."""
    async with server.client() as client:
        await client.call("types.set_limits", {"type": "mail", "concurrency": 2})
        await client.call("types.set_limits", {"type": "mail"})
        assert await rules_of(client, "mail") == {}
        changed = await client.call(
            "types.set_limits", {"type": "mail", "rate_limit": 5, "rate_per": 60, "rev": 0}
        )
        assert changed["rate_limit"] == 5 and changed["rev"] == 3


class Interrupted:
    """A client whose first read of the rules is followed, before the caller acts on it, by
    another admin's change (what the CLI's read-then-write used to overwrite)."""

    def __init__(self, client: Client, other: Client) -> None:
        self.client, self.other, self.reads = client, other, 0

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        result = await self.client.call(method, params)
        if method == "types.list":
            self.reads += 1
            if self.reads == 1:
                await self.other.call(
                    "types.set_limits",
                    {"type": "mail", "concurrency": 5, "rate_limit": 10, "rate_per": 60},
                )
        return result


async def test_the_cli_reads_again_when_the_rules_changed_under_it(
    server: InProcessServer,
) -> None:
    async with server.client() as client, server.client() as other:
        await client.call("types.set_limits", {"type": "mail", "rate_limit": 1, "rate_per": 1})
        interrupted = Interrupted(client, other)

        def limits_from(current: dict[str, Any]) -> dict[str, Any]:  # --concurrency 8
            kept = {name: current.get(name) for name in cli_types.LIMITS} | {"concurrency": 8}
            return {name: value for name, value in kept.items() if value is not None}

        result = await cli_types.change_from(
            interrupted,
            "mail",
            "types.set_limits",
            limits_from,  # type: ignore[arg-type]
        )
    assert interrupted.reads == 2  # refused at the revision first read, read again
    assert result["concurrency"] == 8
    assert (result["rate_limit"], result["rate_per"]) == (10, 60)  # the other admin's rate
