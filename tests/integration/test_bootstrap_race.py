"""Servers starting together on a fresh database each make sure the admin exists: none may fail
to start because another created it first (replicas of one deployment, one admin token)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livejobs.auth import Auth
from livejobs.clock import ManualClock
from livejobs.errors import Conflict
from livejobs.store.sqlite.store import SQLiteStore

TOKEN = "lj_bootstrap_0123456789abcdef0123456789"


async def _two_servers(path: Path) -> tuple[list[SQLiteStore], list[Auth]]:
    stores = [SQLiteStore(str(path)), SQLiteStore(str(path))]
    for store in stores:
        await store.open()
    return stores, [Auth(store, ManualClock()) for store in stores]


@pytest.mark.parametrize("attempt", range(5))
async def test_servers_sharing_an_admin_token_all_start(tmp_path: Path, attempt: int) -> None:
    stores, auths = await _two_servers(tmp_path / "jobs.db")
    try:
        printed = await asyncio.gather(*(auth.bootstrap(TOKEN) for auth in auths))
        assert printed == [None, None]
        for auth in auths:
            assert (await auth.authenticate(TOKEN)).role == "admin"
        assert [u["name"] for u in await stores[0].list_records("users")] == ["admin"]
    finally:
        for store in stores:
            await store.close()


@pytest.mark.parametrize("attempt", range(5))
async def test_servers_without_a_token_all_start_and_print_working_ones(
    tmp_path: Path, attempt: int
) -> None:
    stores, auths = await _two_servers(tmp_path / "jobs.db")
    try:
        printed = await asyncio.gather(*(auth.bootstrap() for auth in auths))
        tokens = [token for token in printed if token is not None]
        assert len(tokens) == 1  # the server that made the admin prints its token; no other
        assert (await auths[0].authenticate(tokens[0])).role == "admin"
        assert [t["user"] for t in await stores[1].list_records("tokens")] == ["admin"]
    finally:
        for store in stores:
            await store.close()


@pytest.mark.parametrize("attempt", range(5))
async def test_one_user_name_added_on_two_servers_at_once_is_added_once(
    tmp_path: Path, attempt: int
) -> None:
    stores, auths = await _two_servers(tmp_path / "jobs.db")
    try:
        added = await asyncio.gather(
            auths[0].add_user("ana", "worker"),
            auths[1].add_user("ana", "manager"),
            return_exceptions=True,
        )
        kept = [user for user in added if isinstance(user, dict)]
        assert len(kept) == 1  # the other was told the name is taken, not that it won
        assert [type(e) for e in added if isinstance(e, BaseException)] == [Conflict]
        stored = await auths[1].list_users()
        assert [(u["name"], u["role"]) for u in stored] == [("ana", kept[0]["role"])]
    finally:
        for store in stores:
            await store.close()
