"""What an operator reads when a job fails: ``livejobs jobs show`` prints the stored traceback as
a traceback, ``livejobs worker`` logs the message and the traceback, and a server run with
``--log-format json`` writes JSON lines that carry the job, type, worker and user, with at
most one INFO line per WebSocket connection."""

from __future__ import annotations

import json
from typing import Any

from livejobs_sdk import WorkerJob
from tests.acceptance.test_cli import cli, stop_process, worker_process
from tests.helpers import running_worker, wait_status
from tests.servers import ProcessServer

FAILING = """
def check_invoice(number):
    raise RuntimeError(f"invoice {number} has no customer")

async def bill(job):
    check_invoice(job.data["invoice"])
"""


async def test_jobs_show_prints_the_stored_traceback(live_server):
    async def handler(job: WorkerJob) -> Any:
        raise ValueError("line one\nline two")

    async with live_server.client() as client:
        job = await client.job("render", {}).save()
        async with running_worker(client, "render", handler):
            await wait_status(client, job.id, "failed")
    result = await cli(live_server, "jobs", "show", job.id)
    assert result.returncode == 0, result
    out = result.stdout
    assert "Traceback (most recent call last):" in out
    assert 'raise ValueError("line one\\nline two")' in out  # the source line, as Python shows it
    assert "ValueError: line one\nline two" in out  # the message's own lines, not a literal \n
    assert "'traceback'" not in out and "\\n" not in out.replace("\\nline two", "")


async def test_worker_logs_the_failure_with_its_traceback(live_server, tmp_path):
    (tmp_path / "billing.py").write_text(FAILING)
    async with live_server.client() as client:
        job = await client.job("bill", {"invoice": 42}).save()
        async with worker_process(live_server, tmp_path, "billing:bill", "--type", "bill") as w:
            await wait_status(client, job.id, "failed")
            assert await stop_process(w) == 0
    log = (tmp_path / "worker-0.log").read_text()
    assert f"job {job.id} (bill) failed: invoice 42 has no customer" in log
    assert "Traceback (most recent call last):" in log
    assert "in check_invoice" in log and "RuntimeError: invoice 42 has no customer" in log


async def test_json_logs_carry_the_job_and_one_line_per_connection(tmp_path):
    server = ProcessServer(tmp_path / "jobs.db", "--log-format", "json", "--log-level", "info")
    await server.start()
    connections = 0
    try:
        for _ in range(3):  # connections that only authenticate and leave
            async with server.client(reconnect=False) as client:
                await client.call("users.list")
            connections += 1
        token = await server.token("worker", "wanda", ["mail"])
        connections += 2
        async with server.client(reconnect=False) as creator, server.client(token) as worker:
            connections += 2
            job = await creator.job("mail", {}).save()

            async def handler(job: WorkerJob) -> Any:
                raise RuntimeError("smtp down")

            async with running_worker(worker, "mail", handler, worker_id="mailer-1"):
                await wait_status(creator, job.id, "failed")
    finally:
        await server.stop()
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line]
    failed = [line for line in lines if line.get("job_id") == job.id]
    assert failed, lines
    assert failed[-1]["type"] == "mail" and failed[-1]["level"] == "info"
    assert failed[-1]["worker"] == "wanda/mailer-1" and failed[-1]["user"] == "wanda"
    assert "RuntimeError: smtp down" in failed[-1]["message"]
    started = [
        line for line in lines if line.get("worker") == "wanda/mailer-1" and "job_id" not in line
    ]
    assert started and started[0]["user"] == "wanda"
    per_connection = [
        line
        for line in lines
        if line["level"] == "info"
        and ("WebSocket /ws" in line["message"] or line["message"].startswith("connection "))
    ]
    assert 0 < len(per_connection) <= connections, per_connection
