"""A worker frozen with SIGSTOP past its lease loses the job to a retry; when it thaws, the
server refuses its stale run (the heartbeat, which stops the handler, or the completion, if the
handler finished first) and the retry's result stands."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tests.helpers import running_worker, wait_for_doc, wait_status
from tests.servers import ROOT

LEASE = 1.0  # the frozen worker's lease (the minimum); it heartbeats every third of it


async def test_frozen_worker_cannot_complete_a_job_retried_elsewhere(server, tmp_path):
    gate = asyncio.Event()

    async def healthy(job):
        if job.data.get("gate"):
            await gate.wait()
        return {"by": "healthy", "attempt": job.attempt}

    async with server.client() as client:
        # The healthy worker registers first, so once the victim is retried it takes it; it is
        # kept busy meanwhile so that the victim's first attempt goes to the frozen worker.
        async with running_worker(client, "victim", healthy, worker_id="healthy"):
            gate_job = await client.job("victim", {"gate": True}).save()
            await wait_status(client, gate_job.id, "running")
            victim = (
                await client.job("victim", {"note": "working", "ms": 3000}).retry(retries=5).save()
            )
            frozen = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.reliability.chaos_worker",
                server.ws_url,
                server.admin_token,
                "victim",
                "frozen",
                str(tmp_path / "journal.log"),
                "--lease",
                str(LEASE),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            try:
                running = await wait_for_doc(
                    client,
                    victim.id,
                    lambda d: any(e["message"] == "working" for e in d["log"]),
                    timeout=20,
                )
                assert running["lease"]["worker"] == "admin/frozen"
                gate.set()
                await wait_status(client, gate_job.id, "completed")
                os.kill(frozen.pid, signal.SIGSTOP)  # mid-handler, lease held
                done = await wait_status(client, victim.id, "completed", timeout=15)
                os.kill(frozen.pid, signal.SIGCONT)
                refusal = await read_until(frozen.stdout, *_refused(victim.id))
            finally:
                os.kill(frozen.pid, signal.SIGCONT)
                os.kill(frozen.pid, signal.SIGKILL)
                await frozen.wait()
        assert "conflict" in refusal, refusal
        assert done["result"]["by"] == "healthy" and done["attempts"] >= 2
        assert all(
            f["error"] == "lease expired: worker lost" and f["worker"] == "admin/frozen"
            for f in done["failures"]
        )
        final = await client.get_job(victim.id)
        assert final["version"] == done["version"] and final["result"] == done["result"]
        assert final["status"] == "completed"
        # the lost attempt is in the log, as is who ran each attempt
        starts = [e["message"] for e in final["log"] if e["message"].startswith("started by")]
        assert starts[0] == "started by worker admin/frozen (attempt 1)"
        assert starts[-1] == f"started by worker admin/healthy (attempt {final['attempts']})"


def _refused(job_id: str) -> tuple[str, str]:
    """What the thawed worker says when the server refuses its stale run: its heartbeat (the
    SDK then stops the handler), or, if the handler finished first, its report."""
    return f"heartbeat for job {job_id} failed", f"could not report jobs.done for job {job_id}"


def start_chaos_worker(server, tmp_path, worker_id: str) -> asyncio.subprocess.Process:
    """``tests.reliability.chaos_worker`` on type ``victim`` with the minimum lease."""
    return asyncio.create_subprocess_exec(  # type: ignore[return-value]
        sys.executable,
        "-m",
        "tests.reliability.chaos_worker",
        server.ws_url,
        server.admin_token,
        "victim",
        worker_id,
        str(tmp_path / "journal.log"),
        "--lease",
        str(LEASE),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_a_frozen_worker_gets_no_retry_until_it_responds(server, tmp_path):
    """The frozen worker registered first, so on the old code every retry went back to it
    (five attempts expired there and the job failed) while a healthy worker waited."""
    async with server.client() as client:
        frozen = await start_chaos_worker(server, tmp_path, "frozen")
        try:
            victim = await client.job("victim", {"note": "working", "ms": 3000}).retry(4).save()
            running = await wait_for_doc(
                client,
                victim.id,
                lambda d: any(e["message"] == "working" for e in d["log"]),
                timeout=20,
            )
            assert running["lease"]["worker"] == "admin/frozen"
            os.kill(frozen.pid, signal.SIGSTOP)  # mid-handler, lease held, socket open

            async def healthy(job):
                return {"by": "healthy", "attempt": job.attempt}

            async with running_worker(client, "victim", healthy, worker_id="healthy"):
                done = await wait_status(client, victim.id, "completed", "failed", timeout=20)
            assert done["status"] == "completed", done["failures"]
            assert done["result"] == {"by": "healthy", "attempt": 2}
            assert [f["worker"] for f in done["failures"]] == ["admin/frozen"]

            # thawed, it calls again (a refused heartbeat or report) and is given work again
            os.kill(frozen.pid, signal.SIGCONT)
            await read_until(frozen.stdout, *_refused(victim.id))
            later = await client.job("victim", {"ms": 0}).save()
            again = await wait_status(client, later.id, "completed", timeout=15)
            assert again["result"]["worker"] == "frozen"  # the name it was started with
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
            os.kill(frozen.pid, signal.SIGKILL)
            await frozen.wait()


async def read_until(
    stream: asyncio.StreamReader | None, *needles: str, timeout: float = 15
) -> str:
    """The first line of a process's output containing one of ``needles``."""
    assert stream is not None

    async def scan() -> str:
        while line := (await stream.readline()).decode(errors="replace"):
            if any(needle in line for needle in needles):
                return line
        raise AssertionError(f"the process ended without saying any of {needles!r}")

    return await asyncio.wait_for(scan(), timeout)
