"""``livejobs types ...`` as an operator runs it: a real process against a live server, judged
by exit code and output, and by the rules the server then holds (``types.list``)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from typing import Any

from tests.acceptance.test_cli import assert_one_error_line, cli, env_for


async def rules_of(server, job_type: str) -> dict[str, Any]:
    async with server.client() as client:
        records = await client.call("types.list", {})
    return next((r for r in records if r["type"] == job_type), {})


def assert_usage_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Input the command cannot read: one ``error:`` line and exit 2, no traceback."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def table(stdout: str) -> dict[str, dict[str, str]]:
    """``types ls``'s table as ``{type: {column: cell}}``, cut at the header's columns."""
    header, _rule, *rows = stdout.splitlines()
    names = re.split(r"\s{2,}", header.strip())
    starts: list[int] = []
    for name in names:
        starts.append(header.index(name, starts[-1] + 1 if starts else 0))
    cut = list(zip(starts, [*starts[1:], None], strict=True))
    cells = [{n: row[a:b].strip() for n, (a, b) in zip(names, cut, strict=True)} for row in rows]
    return {cell["type"]: cell for cell in cells}


async def test_limit_changes_only_the_named_limits(live_server) -> None:
    done = await cli(
        live_server, "types", "limit", "mail", "--rate", "100/60", "--concurrency", "5"
    )
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "mail: active, rate 100 / 60 s, concurrency 5",
    ), done.stderr
    grouped = await cli(
        live_server, "types", "limit", "mail", "--group-concurrency", "1", "--group-rate", "10/1.5"
    )
    assert grouped.returncode == 0, grouped.stderr
    only = await cli(live_server, "types", "limit", "mail", "--concurrency", "8")
    assert only.returncode == 0, only.stderr
    rules = await rules_of(live_server, "mail")
    assert (rules["rate_limit"], rules["rate_per"], rules["concurrency"]) == (100, 60, 8)
    assert (rules["group_concurrency"], rules["group_rate_limit"], rules["group_rate_per"]) == (
        1,
        10,
        1.5,
    )
    removed = await cli(live_server, "types", "limit", "mail", "--rate", "none")
    assert removed.returncode == 0, removed.stderr
    rules = await rules_of(live_server, "mail")
    assert (rules["rate_limit"], rules["rate_per"], rules["concurrency"]) == (None, None, 8)
    assert rules["group_concurrency"] == 1


async def test_limit_clear_removes_the_limits_not_named(live_server) -> None:
    set_all = ("--rate", "5/1", "--concurrency", "2", "--group-concurrency", "1")
    assert (await cli(live_server, "types", "limit", "a", *set_all)).returncode == 0
    assert (await cli(live_server, "types", "limit", "b", *set_all)).returncode == 0
    assert (await cli(live_server, "types", "pause", "b")).returncode == 0
    cleared = await cli(live_server, "types", "limit", "a", "--clear")
    assert (cleared.returncode, cleared.stdout.strip()) == (0, "a: active"), cleared.stderr
    assert await rules_of(live_server, "a") == {}  # nothing left: no record
    only = await cli(live_server, "types", "limit", "b", "--clear", "--concurrency", "3")
    assert only.returncode == 0, only.stderr
    rules = await rules_of(live_server, "b")
    assert rules["paused"] is True  # --clear is about limits only
    assert (rules["rate_limit"], rules["concurrency"], rules.get("group_concurrency")) == (
        None,
        3,
        None,
    )


async def test_a_paused_type_is_not_claimed_until_resumed(live_server) -> None:
    async with live_server.client() as client:
        job = await client.job("held").save()
        paused = await cli(live_server, "types", "pause", "held")
        assert (paused.returncode, paused.stdout.strip()) == (0, "held: paused"), paused.stderr
        assert (await rules_of(live_server, "held"))["paused"] is True
        assert await client.call("jobs.claim", {"types": ["held"], "limit": 1}) == []
        resumed = await cli(live_server, "types", "resume", "held")
        assert (resumed.returncode, resumed.stdout.strip()) == (0, "held: active")
        claimed = await client.call("jobs.claim", {"types": ["held"], "limit": 1})
    assert [doc["id"] for doc in claimed] == [job.id]


async def test_defaults_reach_new_jobs_and_keep_what_is_not_named(live_server) -> None:
    done = await cli(
        live_server,
        "types",
        "defaults",
        "report",
        "--time-limit",
        "30",
        "--retries",
        "3",
        "--retry-wait",
        "5",
        "--backoff",
        "exponential",
        "--retain",
        "3600",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "report: active, time limit 30 s, retries 3 (wait 5 s, exponential), retain 3600 s"
    )
    async with live_server.client() as client:
        doc = (await client.job("report").save()).doc
    assert doc["time_limit"] == 30
    assert doc["retry"]["retries"] == 3 and doc["retry"]["backoff"] == "exponential"
    more = await cli(live_server, "types", "defaults", "report", "--retries", "5")
    assert more.returncode == 0, more.stderr
    rules = await rules_of(live_server, "report")
    assert rules["retry"] == {"retries": 5, "wait": 5, "backoff": "exponential"}
    assert (rules["time_limit"], rules["retain"]) == (30, 3600)
    gone = await cli(live_server, "types", "defaults", "report", "--time-limit", "none")
    assert gone.returncode == 0, gone.stderr
    rules = await rules_of(live_server, "report")
    assert "time_limit" not in rules and rules["retry"]["retries"] == 5
    async with live_server.client() as client:
        doc = (await client.job("report").save()).doc
    assert doc.get("time_limit") is None and doc["retry"]["retries"] == 5


async def test_ls_shows_each_type_with_rules(live_server) -> None:
    empty = await cli(live_server, "types", "ls")
    assert (empty.returncode, empty.stdout.strip()) == (0, "no types with rules")
    for args in (
        ("limit", "mail", "--rate", "100/60", "--concurrency", "5"),
        ("pause", "mail"),
        ("defaults", "pdf", "--time-limit", "90", "--retries", "2"),
        ("keep", "pdf", "--completed", "100", "--failed", "5", "--cancelled", "none"),
    ):
        assert (await cli(live_server, "types", *args)).returncode == 0
    listed = await cli(live_server, "types", "ls")
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert set(rows) == {"mail", "pdf"}
    assert rows["mail"] == {
        "type": "mail",
        "state": "paused",
        "rate": "100 / 60 s",
        "concurrency": "5",
        "group rate": "-",
        "group concurrency": "-",
        "time limit": "-",
        "retries": "-",
        "retain": "-",
        "keep": "-",
    }
    assert (rows["pdf"]["state"], rows["pdf"]["rate"]) == ("active", "-")
    assert (rows["pdf"]["time limit"], rows["pdf"]["retries"]) == ("90 s", "2")
    assert rows["pdf"]["keep"] == "100 completed, 5 failed"
    as_json = await cli(live_server, "types", "ls", "--json")
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["type"] for r in records] == ["mail", "pdf"]
    assert records[0]["paused"] is True and records[0]["rate_limit"] == 100
    assert records[1]["time_limit"] == 90 and records[1]["retry"] == {"retries": 2}


async def test_unreadable_input_is_one_line_and_exit_2(live_server) -> None:
    cases = [  # (args, what the one line must say)
        (["limit", "t", "--rate", "100"], ["--rate '100'", "N/SECONDS"]),
        (["limit", "t", "--rate", "x/60"], ["--rate 'x/60'"]),
        (["limit", "t", "--rate", "10/0"], ["--rate '10/0'"]),
        (["limit", "t", "--group-rate", "10/nan"], ["--group-rate"]),
        (["limit", "t", "--concurrency", "-1"], ["--concurrency '-1'", ">= 0"]),
        (["limit", "t"], ["name a limit"]),
        (["defaults", "t", "--retries", "-2"], ["--retries '-2'"]),
        (["defaults", "t", "--time-limit", "0"], ["--time-limit '0'", "> 0"]),
        (["defaults", "t", "--backoff", "linear"], ["--backoff", "exponential"]),
        (["defaults", "t", "--retries", "none", "--retry-wait", "3"], ["--retries none"]),
        (["defaults", "t"], ["name a default"]),
        (["keep", "t", "--completed", "-1"], ["--completed '-1'", ">= 0"]),
        (["keep", "t", "--failed", "many"], ["--failed 'many'"]),
    ]
    results = await asyncio.gather(*(cli(live_server, "types", *args) for args, _ in cases))
    for (_, expected), result in zip(cases, results, strict=True):
        assert_usage_line(result, *expected)
    assert await rules_of(live_server, "t") == {}


async def test_server_refusals_are_one_line_and_exit_1(live_server) -> None:
    creator = env_for(live_server, LIVEJOBS_TOKEN=await live_server.token("creator", "c1"))
    cases = [  # (args, env, what the one line must say)
        (["pause", "t"], creator, ["forbidden"]),
        (["limit", "t", "--concurrency", "2"], creator, ["forbidden"]),
        (["defaults", "t", "--retries", "1"], creator, ["forbidden"]),
        (["keep", "t", "--completed", "1"], creator, ["forbidden"]),
        (["defaults", "t", "--time-limit", str(40 * 86400)], None, ["invalid"]),
        (["limit", "t", "--rate", "1/99999999"], None, ["invalid"]),
        (["defaults", "t", "--retry-wait", "3"], None, ["no retry policy", "--retries"]),
    ]
    results = await asyncio.gather(
        *(cli(live_server, "types", *args, env=env) for args, env, _ in cases)
    )
    for (_, _, expected), result in zip(cases, results, strict=True):
        assert_one_error_line(result, *expected)
    assert await rules_of(live_server, "t") == {}
    # a creator may read the rules
    listed = await cli(live_server, "types", "ls", "--json", env=creator)
    assert (listed.returncode, listed.stdout) == (0, "")


async def test_keep_sets_the_counts_named_and_alone_removes_them(live_server) -> None:
    kept = await cli(live_server, "types", "keep", "mail", "--completed", "10")
    assert (kept.returncode, kept.stdout.strip()) == (0, "mail: active, keep 10 completed")
    assert (await rules_of(live_server, "mail"))["keep"] == {"completed": 10}
    gone = await cli(live_server, "types", "keep", "mail")
    assert (gone.returncode, gone.stdout.strip()) == (0, "mail: active"), gone.stderr
    assert await rules_of(live_server, "mail") == {}
