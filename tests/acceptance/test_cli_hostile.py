"""A job's strings are written by any client: the ``livejobs`` commands must print them as text,
never as rich markup and never as control sequences the operator's terminal obeys (clear the
screen, make a link, write over a line)."""

from __future__ import annotations

import asyncio
import re

from livejobs_sdk import Fatal
from tests.acceptance.test_cli import cli, worker_process
from tests.helpers import running_worker, wait_status

#: ESC [2J clears the screen, OSC 8 makes a link, \r writes over the line, \x9b is a one-byte
#: CSI, U+202E turns the rest of the line around
SEQUENCES = "\x1b[2J\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\\r\x9b31m\u202e"
MARKUP = "[link=https://evil.example/][bold red]FORGED[/bold red][/link]"
HOSTILE = f"{MARKUP}{SEQUENCES}"
#: names (a type, a group, a worker id) may hold no control character (refused at the edge);
#: markup and a bidirectional override they may
NAME = f"{MARKUP}\u202e"
#: what the terminal must never receive from a job (the commands write no colour when piped)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_shown_safely(output: str) -> None:
    assert not CONTROL.search(output), repr(output)
    assert "evil.example" in output  # the text is there, as text
    assert "[bold red]FORGED[/bold red]" in output, output  # markup shown literally


async def hostile_failed_job(server) -> str:
    """A job of a hostile type whose every string field is hostile, failed by a hostile worker
    (its names as hostile as a name may be)."""

    async def handler(job):
        await job.log(HOSTILE, data={"x": HOSTILE})
        await job.progress(1, 3)
        raise Fatal(f"boom {HOSTILE}\nsecond line {HOSTILE}")

    async with server.client() as client, server.client() as worker:
        await client.call("types.set_limits", {"type": NAME, "concurrency": 5})
        async with running_worker(worker, NAME, handler, worker_id=f"admin/w{NAME}"):
            job = await client.job(NAME, {"note": HOSTILE}).key(HOSTILE).group(NAME).save()
            await wait_status(client, job.id, "failed")
    return job.id


async def test_jobs_ls_show_watch_and_types_print_hostile_strings_as_text(live_server):
    job_id = await hostile_failed_job(live_server)
    listed, shown, watched, typed, as_json = await asyncio.gather(
        cli(live_server, "jobs", "ls"),
        cli(live_server, "jobs", "show", job_id),
        cli(live_server, "watch", "--once"),
        cli(live_server, "types", "ls"),
        cli(live_server, "jobs", "ls", "--json"),
    )
    for result in (listed, shown, watched, typed):
        assert result.returncode == 0, result.stderr
        assert_shown_safely(result.stdout)
    assert as_json.returncode == 0, as_json.stderr
    assert not CONTROL.search(as_json.stdout), repr(as_json.stdout)
    assert "\\u001b[2J" in as_json.stdout and "\\u009b31m" in as_json.stdout  # still JSON's own
    assert "boom" in shown.stdout and "second line" in shown.stdout  # the traceback keeps lines


async def test_an_error_about_hostile_input_stays_one_line_of_text(live_server):
    """The server's error names the id it was given (pasted, say, from a hostile job's log)."""
    result = await cli(live_server, "jobs", "show", f"x{SEQUENCES}\nerror: forged")
    assert result.returncode == 1
    assert not CONTROL.search(result.stderr), repr(result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_the_worker_logs_a_failure_quoting_hostile_data_as_text(live_server, tmp_path):
    (tmp_path / "hostile_handlers.py").write_text(
        "def explode(job):\n    raise ValueError('bad ' + job.data)\n"
    )
    async with (
        live_server.client() as client,
        worker_process(live_server, tmp_path, "hostile_handlers:explode", "--type", "explode"),
    ):
        job = await client.job("explode", HOSTILE).save()  # no retry policy: fails once
        await wait_status(client, job.id, "failed")
    log = (tmp_path / "worker-0.log").read_text()
    assert "ValueError: bad [link=" in log, log
    assert not CONTROL.search(log), repr(log)
