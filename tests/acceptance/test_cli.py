"""The ``livejobs`` client commands as a user runs them: real processes against a live server,
judged by exit code and output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from livejobs_sdk import Fatal
from tests.helpers import running_worker, wait_for_doc, wait_status
from tests.servers import ROOT, free_port

HANDLERS = '''
import asyncio
import threading

TOGETHER = threading.Barrier(10, timeout=10)

async def echo(job):
    await job.log("echoing")
    await job.progress(1, 1)
    return job.data

def double(job):  # a plain function runs in a thread
    return job.data * 2

async def slow(job):
    for step in range(10):
        await job.progress(step, 10)
        await asyncio.sleep(job.data["seconds"] / 10)
    return "slept"

def together(job):  # ten at once, or all fail: a thread per slot, not the cores plus four
    TOGETHER.wait()
    return "met"

def sizes(jobs):  # --payload: a list of jobs in, their results out (in a thread)
    return [{"n": job.data, "batch": len(jobs)} for job in jobs]

async def until_handed_back(job):
    """Blocks on its first run; returns at once after the server handed it back."""
    if any(entry["message"].startswith("snoozed") for entry in job.doc["log"]):
        return "second run"
    await asyncio.Event().wait()
'''

ID = re.compile(r"^[0-9a-f]{32}$")


def env_for(server, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEJOBS_")}
    env.update({"LIVEJOBS_URL": server.http_url, "LIVEJOBS_TOKEN": server.admin_token})
    env.update(extra)
    return env


async def cli(
    server, *args: str, env: dict[str, str] | None = None, input: str = ""
) -> subprocess.CompletedProcess[str]:
    """``livejobs ARGS`` in a subprocess (in a thread, so this loop keeps serving), ``input``
    its whole stdin (never the terminal's: a prompt must not wait for one)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "livejobs.cli", *args],
        cwd=ROOT,
        env=env if env is not None else env_for(server),
        capture_output=True,
        text=True,
        timeout=60,
        input=input,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@contextlib.asynccontextmanager
async def worker_process(
    server,
    tmp_path: Path,
    target: str,
    *args: str,
) -> AsyncIterator[subprocess.Popen[str]]:
    """``livejobs worker TARGET ARGS`` with the test handlers importable; killed by PID if the
    test did not stop it."""
    (tmp_path / "cli_handlers.py").write_text(HANDLERS)
    log_path = tmp_path / f"worker-{len(list(tmp_path.glob('worker-*.log')))}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "livejobs.cli", "worker", target, *args],
            cwd=ROOT,
            env=env_for(server, PYTHONPATH=str(tmp_path)),
            stdout=log,
            stderr=log,
            text=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        await asyncio.to_thread(proc.wait, 10)


async def stop_process(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return await asyncio.to_thread(proc.wait, 20)


async def test_create_list_show_and_control_jobs(live_server):
    made = await cli(
        live_server,
        "jobs",
        "create",
        "email",
        "--data",
        '{"to": "a@b.c"}',
        "--priority",
        "high",
        "--retries",
        "2",
    )
    assert made.returncode == 0, made.stderr
    first = made.stdout.strip()
    assert ID.match(first)
    later = (
        await cli(live_server, "jobs", "create", "email", "--data", "[1]", "--delay", "3600")
    ).stdout.strip()

    listed = await cli(live_server, "jobs", "ls")
    assert listed.returncode == 0
    rows = {
        line.split()[0]: line.split()
        for line in listed.stdout.splitlines()
        if ID.match(line.split()[0] if line.split() else "")
    }
    assert rows[first][1:5] == ["email", "ready", "-10", "0"]
    assert rows[later][1:3] == ["email", "waiting"]
    assert list(rows) == [later, first]  # newest first

    waiting = await cli(live_server, "jobs", "ls", "--status", "waiting", "--type", "email")
    assert later in waiting.stdout and first not in waiting.stdout
    as_json = await cli(live_server, "jobs", "ls", "--json", "--limit", "1")
    [doc] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert doc["id"] == later and doc["data"] == [1]
    assert (await cli(live_server, "jobs", "ls", "--type", "none")).stdout.strip() == "no jobs"

    shown = await cli(live_server, "jobs", "show", first)
    assert shown.returncode == 0
    assert first in shown.stdout and '{"to": "a@b.c"}' in shown.stdout
    assert "retries allowed: 2" in shown.stdout
    assert re.search(r"info\s+admin\s+created", shown.stdout)

    for action, past in (("pause", "paused"), ("resume", "resumed")):
        done = await cli(live_server, "jobs", action, first)
        assert (done.returncode, done.stdout.strip()) == (0, f"{past} {first}")
    cancelled = await cli(live_server, "jobs", "cancel", first, later)
    assert cancelled.returncode == 0
    assert sorted(cancelled.stdout.split()) == sorted(["cancelled", first, "cancelled", later])
    assert (await cli(live_server, "jobs", "restart", first)).stdout.strip() == f"restarted {first}"
    await cli(live_server, "jobs", "cancel", first)
    removed = await cli(live_server, "jobs", "remove", first, later)
    assert removed.returncode == 0 and f"removed {later}" in removed.stdout
    assert_one_error_line(await cli(live_server, "jobs", "show", first), "not_found")


async def test_flags_work_without_environment_variables(live_server):
    bare = {k: v for k, v in os.environ.items() if not k.startswith("LIVEJOBS_")}
    made = await cli(
        live_server,
        "jobs",
        "create",
        "t",
        "--url",
        live_server.ws_url,
        "--token",
        live_server.admin_token,
        env=bare,
    )
    assert made.returncode == 0 and ID.match(made.stdout.strip()), made.stderr
    shown = await cli(
        live_server,
        "jobs",
        "show",
        made.stdout.strip(),
        "--json",
        "--url",
        live_server.http_url.replace("http://", ""),
        "--token",
        live_server.admin_token,
        env=bare,
    )
    assert json.loads(shown.stdout)["type"] == "t"


async def test_user_mistakes_are_one_line_and_exit_1(live_server, tmp_path):
    no_token = {k: v for k, v in env_for(live_server).items() if k != "LIVEJOBS_TOKEN"}
    nobody = env_for(live_server, LIVEJOBS_URL=f"http://127.0.0.1:{free_port()}")
    cases = [  # (args, env, what the one line must say)
        (["jobs", "create", "t", "--data", "{oops"], None, ["--data is not valid JSON"]),
        (["jobs", "ls", "--status", "done"], None, ["unknown status done"]),
        (["jobs", "ls"], env_for(live_server, LIVEJOBS_TOKEN="lj_x_y"), ["unauthenticated"]),
        (["jobs", "ls"], no_token, ["unauthenticated", "LIVEJOBS_TOKEN"]),
        (["jobs", "ls"], nobody, ["cannot connect"]),
        (["jobs", "ls", "--url", "ftp://x"], None, ["not an http"]),
        (["jobs", "create", "t", "--priority", "urgent"], None, ["invalid", "unknown priority"]),
        (["jobs", "cancel", "nope"], None, ["nope", "not_found"]),
    ]
    results = await asyncio.gather(*(cli(live_server, *args, env=env) for args, env, _ in cases))
    for (_, _, expected), result in zip(cases, results, strict=True):
        assert_one_error_line(result, *expected)
    for target, message in (
        ("cli_handlers", "MODULE:FUNCTION"),
        ("no_such_module:f", "cannot import no_such_module"),
        ("cli_handlers:missing", "no function 'missing'"),
    ):
        async with worker_process(live_server, tmp_path, target, "--type", "t") as proc:
            assert await asyncio.to_thread(proc.wait, 20) == 1
        log = sorted(tmp_path.glob("worker-*.log"))[-1].read_text()
        assert "error: " in log and message in log and "Traceback" not in log, log
    usage = await cli(live_server, "jobs", "cancel")  # a missing argument: click's usage error
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


async def test_watch_renders_one_refresh(live_server):
    hold = asyncio.Event()

    async def long(job):
        await job.progress(1, 4)
        await hold.wait()

    async def bad(job):
        raise Fatal("disk on fire\nsecond line")

    async with live_server.client() as client, live_server.client() as worker:
        async with running_worker(
            worker,
            ["long", "bad"],
            lambda job: long(job) if job.type == "long" else bad(job),
            concurrency=2,
        ):
            running = await client.job("long").save()
            failed = await client.job("bad").save()
            await client.job("idle").delay(3600).save()
            await wait_status(client, failed.id, "failed")
            await wait_for_doc(client, running.id, lambda d: d["progress"]["total"] == 4)
            shown = await cli(live_server, "watch", "--once")
            only_long = await cli(live_server, "watch", "--once", "--type", "long")
            hold.set()
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"livejobs {live_server.http_url}")
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["waiting", "ready"])
    assert lines[header + 2].split() == ["1", "0", "1", "0", "0", "1", "0", "3"]
    row = next(line for line in lines if running.id[:12] in line)
    assert "long" in row and row.rstrip().endswith("25")
    failure = next(line for line in lines if failed.id[:12] in line)
    assert "bad" in failure and "disk on fire" in failure and "second line" not in shown.stdout
    assert "type=long" in only_long.stdout and failed.id[:12] not in only_long.stdout


async def test_worker_command_runs_module_functions(live_server, tmp_path):
    async with live_server.client() as client:
        echoes = [await client.job("echo", {"n": n}).save() for n in range(3)]
        double = await client.job("double", 21).save()
        async with (
            worker_process(
                live_server, tmp_path, "cli_handlers:echo", "--type", "echo", "--concurrency", "2"
            ) as async_worker,
            worker_process(
                live_server, tmp_path, "cli_handlers:double", "--type", "double"
            ) as thread_worker,
        ):
            for n, job in enumerate(echoes):
                doc = await wait_status(client, job.id, "completed", "failed")
                assert doc["status"] == "completed" and doc["result"] == {"n": n}
                assert any(entry["message"] == "echoing" for entry in doc["log"])
            assert (await wait_status(client, double.id, "completed"))["result"] == 42
            assert await stop_process(async_worker) == 0
            assert await stop_process(thread_worker, signal.SIGINT) == 0
    log = (tmp_path / "worker-0.log").read_text()
    assert f"job {echoes[0].id} done" in log and "Traceback" not in log


async def test_worker_command_runs_as_many_plain_functions_at_once_as_its_concurrency(
    live_server, tmp_path
):
    async with live_server.client() as client:
        ids = await client.create_many([("together", None)] * 10)
        target, args = "cli_handlers:together", ("--type", "together", "--concurrency", "10")
        async with worker_process(live_server, tmp_path, target, *args) as proc:
            docs = [await wait_status(client, job_id, "completed", "failed") for job_id in ids]
            assert await stop_process(proc) == 0
    assert [(d["status"], d["result"]) for d in docs] == [("completed", "met")] * 10


async def test_jobs_drain_empties_a_queue(live_server) -> None:
    async with live_server.client() as client:
        ids = [(await client.job("drained").save()).id for _ in range(3)]
        kept = (await client.job("kept").save()).id
    done = await cli(live_server, "jobs", "drain", "--type", "drained", "--reason", "outage")
    assert (done.returncode, done.stdout.strip()) == (0, "cancelled 3 queued drained job(s)")
    async with live_server.client() as client:
        docs = await client.get_jobs([*ids, kept])
    assert [d["status"] for d in docs] == ["cancelled"] * 3 + ["ready"]
    assert {d["reason"] for d in docs[:3]} == {"outage"}
    missing = await cli(live_server, "jobs", "drain")
    assert missing.returncode != 0 and "--type" in missing.stderr


async def test_jobs_obliterate_removes_a_type_after_a_confirmation(live_server) -> None:
    async with live_server.client() as client:
        ids = [(await client.job("retired").save()).id for _ in range(2)]
        kept = (await client.job("kept").save()).id
    unconfirmed = await cli(live_server, "jobs", "obliterate", "--type", "retired", input="n\n")
    assert unconfirmed.returncode != 0 and "Aborted" in unconfirmed.stderr
    done = await cli(live_server, "jobs", "obliterate", "--type", "retired", "--yes")
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "removed 2 retired job(s) (2 cancelled first)",
    )
    async with live_server.client() as client:
        assert [d["id"] for d in await client.get_jobs([*ids, kept])] == [kept]


async def test_jobs_priority_and_delay_move_queued_jobs(live_server) -> None:
    async with live_server.client() as client:
        ids = [(await client.job("ranked").save()).id for _ in range(2)]
    done = await cli(live_server, "jobs", "priority", *ids, "nope", "--priority", "high")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"priority high: {job_id}" for job_id in ids]
    assert "nope: not_found" in done.stderr
    numeric = await cli(live_server, "jobs", "priority", ids[0], "--priority", "-3")
    assert numeric.returncode == 0, numeric.stderr
    async with live_server.client() as client:
        assert [d["priority"] for d in await client.get_jobs(ids)] == [-3, -10]
    delayed = await cli(live_server, "jobs", "delay", ids[1], "--seconds", "3600")
    assert (delayed.returncode, delayed.stdout.strip()) == (0, f"delayed 3600 s: {ids[1]}")
    async with live_server.client() as client:
        assert [d["status"] for d in await client.get_jobs(ids)] == ["ready", "waiting"]


async def test_worker_payload_hands_the_function_a_list_of_jobs(live_server, tmp_path):
    async with live_server.client() as client:
        ids = await client.create_many([("sized", n) for n in range(5)])
        async with worker_process(
            live_server, tmp_path, "cli_handlers:sizes", "--type", "sized", "--payload", "5"
        ) as proc:
            docs = [await wait_status(client, job_id, "completed") for job_id in ids]
            assert await stop_process(proc) == 0
    assert [d["result"]["n"] for d in docs] == list(range(5))
    assert max(d["result"]["batch"] for d in docs) > 1  # at least one call took several
    log = (tmp_path / "worker-0.log").read_text()
    assert "jobs done" in log and "Traceback" not in log
    refused = await cli(live_server, "worker", "cli_handlers", "--payload", "2")
    assert_one_error_line(refused, "--payload takes MODULE:FUNCTION")
