"""``livejobs user …`` / ``token …`` and ``serve`` as an operator runs them, mistakes included:
real processes, judged by exit code and output."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from livejobs_sdk import CallError, Client
from tests.servers import ROOT, free_port


def livejobs(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``livejobs ARGS`` run from ``cwd`` with no LIVEJOBS_ variable but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVEJOBS_")}
    return subprocess.run(
        [sys.executable, "-m", "livejobs.cli", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(result: subprocess.CompletedProcess[str], *expected: str, code: int = 1) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[-1], lines[-1]


async def works(server, token: str) -> bool:
    try:
        async with Client(server.ws_url, token=token, reconnect=False):
            return True
    except CallError:
        return False


async def test_an_admin_command_never_creates_a_database(server, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["user", "add", "bob", "--role", "worker"], ["token", "create", "admin"]):
        result = await asyncio.to_thread(livejobs, elsewhere, *args)  # default: livejobs.db
        refused(result, f"no database at {elsewhere / 'livejobs.db'}", "--url")
        result = await asyncio.to_thread(livejobs, elsewhere, *args, "--db", "typo.db")
        refused(result, f"no database at {elsewhere / 'typo.db'}")
    assert list(elsewhere.iterdir()) == []


async def test_an_admin_command_says_which_database_it_used(server, tmp_path):
    db = str(server.db_path)
    added = await asyncio.to_thread(
        livejobs, tmp_path, "user", "add", "bob", "--role", "worker", "--db", db
    )
    assert added.returncode == 0, added.stderr
    assert f"database: {server.db_path.resolve()}" in added.stderr
    made = await asyncio.to_thread(livejobs, tmp_path, "token", "create", "bob", "--db", db)
    assert made.returncode == 0 and f"database: {server.db_path.resolve()}" in made.stderr
    assert await works(server, made.stdout.strip())  # the server knows it: same database


async def test_admin_commands_act_through_a_running_server(server, tmp_path):
    ops = tmp_path / "ops"  # the server's database is in tmp_path
    ops.mkdir()
    env = {"LIVEJOBS_URL": server.http_url, "LIVEJOBS_TOKEN": server.admin_token}
    added = await asyncio.to_thread(
        livejobs, ops, "user", "add", "carol", "--role", "creator", **env
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added creator carol"
    assert f"server: {server.http_url}" in added.stderr
    made = await asyncio.to_thread(livejobs, ops, "token", "create", "carol", **env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert await works(server, token)
    listed = await asyncio.to_thread(livejobs, ops, "token", "ls", "--user", "carol", **env)
    token_id = listed.stdout.split()[0]
    revoked = await asyncio.to_thread(
        livejobs,
        tmp_path,
        "token",
        "revoke",
        token_id,
        "--url",
        server.http_url,
        "--token",
        server.admin_token,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert not await works(server, token)
    users = await asyncio.to_thread(livejobs, ops, "user", "ls", **env)
    assert "carol\tcreator" in users.stdout
    assert list(ops.iterdir()) == []  # nothing made next to the operator

    # a refused admin token and an ambiguous choice are one line each
    refused(
        await asyncio.to_thread(livejobs, ops, "user", "ls", **{**env, "LIVEJOBS_TOKEN": "nope"}),
        "unauthenticated",
    )
    refused(
        await asyncio.to_thread(
            livejobs, ops, "user", "ls", **env, LIVEJOBS_DB=str(server.db_path)
        ),
        "LIVEJOBS_URL and LIVEJOBS_DB",
    )
    refused(
        await asyncio.to_thread(
            livejobs, ops, "user", "ls", "--db", "x.db", "--url", server.http_url
        ),
        "--db or --url",
    )


def test_serve_on_a_port_in_use_creates_and_prints_nothing(tmp_path):
    host, port = "127.0.0.1", free_port()
    with socket.socket() as taken:
        taken.bind((host, port))
        taken.listen()
        result = livejobs(tmp_path, "serve", "--db", "fresh.db", "--port", str(port))
    refused(result, f"cannot listen on {host}:{port}", "nothing was created", code=3)
    assert "token" not in result.stdout + result.stderr.lower().replace("error", "")
    assert not (tmp_path / "fresh.db").exists()
