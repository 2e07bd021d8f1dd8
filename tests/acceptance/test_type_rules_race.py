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

from livejobs_sdk import Client, SyncClient
from livejobs_sdk.errors import CallError
from livejobs_sdk.type_rules import TypeRulesCalls
from tests.servers import InProcessServer, ProcessServer, started

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
    return await client.type_rules(job_type)


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


async def test_many_setters_of_one_type_at_once_all_succeed(server: InProcessServer) -> None:
    """More setters than a compare-and-set retries: on one server they take turns."""
    setters = 30
    async with server.client() as client:
        results = await asyncio.gather(
            *(
                client.call("types.set_limits", {"type": "mail", "concurrency": n + 1})
                for n in range(setters)
            )
        )
        rules = await rules_of(client, "mail")
    assert sorted(result["rev"] for result in results) == list(range(1, setters + 1))
    assert rules["rev"] == setters


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


class Interrupted(TypeRulesCalls):
    """A client whose first read of the rules is followed, before it acts on it, by another
    admin's change (what a read-then-write used to overwrite)."""

    def __init__(self, client: Client, other: Client) -> None:
        self.client, self.other, self.reads = client, other, 0

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *a: Any, **k: Any
    ) -> Any:
        result = await self.client.call(method, params, *a, **k)
        if method == "types.list":
            self.reads += 1
            if self.reads == 1:
                await self.other.set_type_limits("mail", rate=(10, 60), concurrency=5)
        return result


async def test_a_change_made_from_rules_read_again_when_overtaken(
    server: InProcessServer,
) -> None:
    """``set_type_limits`` (and ``livejobs types limit``, through ``change_type_rules``)
    keeps a change made between its read and its write."""
    async with server.client() as client, server.client() as other:
        await client.set_type_limits("mail", rate=(1, 1))
        interrupted = Interrupted(client, other)
        result = await interrupted.set_type_limits("mail", concurrency=8)
    assert interrupted.reads == 2  # refused at the revision first read, read again
    assert result["concurrency"] == 8
    assert (result["rate_limit"], result["rate_per"]) == (10, 60)  # the other admin's rate


async def test_the_sdk_sets_a_types_rules_by_name(server: InProcessServer) -> None:
    async with server.client() as client:
        assert await client.types() == [] and await client.type_rules("api") == {}
        rules = await client.set_type_limits("api", rate=(100, 60), group_concurrency=1)
        assert (rules["rate_limit"], rules["rate_per"], rules["group_concurrency"]) == (100, 60, 1)
        rules = await client.set_type_limits("api", concurrency=4)  # the others stay
        assert (rules["rate_limit"], rules["concurrency"], rules["group_concurrency"]) == (
            100,
            4,
            1,
        )
        rules = await client.set_type_limits("api", rate=None, group_concurrency=None)
        assert rules["rate_limit"] is None and rules["rate_per"] is None
        assert "group_concurrency" not in rules and rules["concurrency"] == 4
        assert (await client.pause_type("api"))["paused"] is True
        assert [r["type"] for r in await client.types()] == ["api"]
        assert (await client.resume_type("api"))["paused"] is False
        with pytest.raises(CallError) as refused:
            await client.set_type_limits("api", rate=(0, 60))
        assert refused.value.code == "invalid"
        assert (await client.type_rules("api"))["rev"] == rules["rev"] + 2
    async with server.client(await server.token("worker", "w1", types=["api"])) as worker:
        assert (await worker.type_rules("api"))["concurrency"] == 4  # a worker may read them
        with pytest.raises(CallError) as refused:
            await worker.set_type_limits("api", concurrency=9)
        assert refused.value.code == "forbidden"


def test_the_sync_client_sets_a_types_rules(sync_server: ProcessServer) -> None:
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        client.set_type_limits("api", concurrency=2)
        client.pause_type("api")
        rules = client.type_rules("api")
        assert rules["concurrency"] == 2 and rules["paused"] is True and rules["rev"] == 2
        assert [r["type"] for r in client.types()] == ["api"]
