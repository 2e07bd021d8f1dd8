"""The recipes in examples/ started for real: ``livejobs serve``, ``livejobs worker
examples.tasks``, and the FastAPI (uvicorn) or Flask app, driven over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_cli import env_for, worker_process
from tests.helpers import wait_status
from tests.servers import ROOT, free_port, wait_for_port

pytest.importorskip("fastapi")
pytest.importorskip("flask")
pytest.importorskip("django")
MANAGE = str(ROOT / "examples" / "django_site" / "manage.py")


@contextlib.asynccontextmanager
async def web_app(server, tmp_path: Path, *command: str) -> AsyncIterator[httpx.AsyncClient]:
    """An example app as its own process on a free port; stopped with Ctrl-C, which must end
    it cleanly (its livejobs client closing at exit)."""
    port = free_port()
    log_path = tmp_path / "app.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, *[part.format(port=port) for part in command]],
            cwd=ROOT,
            env=env_for(server),
            stdout=log,
            stderr=log,
        )
    try:
        await wait_for_port(port, proc)  # type: ignore[arg-type]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            yield http
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)
    assert "Traceback" not in log_path.read_text(), log_path.read_text()


async def events(http: httpx.AsyncClient, path: str) -> list[str]:
    """The server-sent events of ``path`` until the app ends the stream."""
    async with http.stream("GET", path) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line async for line in response.aiter_lines() if line]


async def test_fastapi_app_enqueues_and_streams_live_progress(live_server, tmp_path):
    fastapi_app = ("-m", "uvicorn", "examples.fastapi_app:app", "--port", "{port}")
    async with (
        worker_process(live_server, tmp_path, "examples.tasks"),
        web_app(live_server, tmp_path, *fastapi_app) as http,
    ):
        signup = await http.post("/signups", json={"email": "a@b.c", "name": "Ada"})
        assert signup.status_code == 202
        report = (await http.post("/reports", params={"pages": 4})).json()["job"]
        streamed = await events(http, f"/jobs/{report}/events")
        states = [json.loads(line.removeprefix("data: ")) for line in streamed]
        assert states[-1] == {"status": "completed", "percent": 100}
        percents = [state["percent"] for state in states]
        assert percents == sorted(percents)
        await events(http, f"/jobs/{signup.json()['job']}/events")  # until it finishes
        welcome = (await http.get(f"/jobs/{signup.json()['job']}")).json()
        assert welcome == {"status": "completed", "result": "Hello Ada, welcome! (sent to a@b.c)"}
        assert await events(http, "/jobs/nope/events") == ["event: gone", "data: {}"]
        assert (await http.get("/jobs/nope")).status_code == 404


async def test_flask_app_shares_one_sync_client_between_request_threads(live_server, tmp_path):
    flask_app = ("-m", "flask", "--app", "examples.flask_app", "run", "--port", "{port}")
    async with (
        live_server.client() as admin,
        worker_process(live_server, tmp_path, "examples.tasks", "--concurrency", "4"),
        web_app(live_server, tmp_path, *flask_app) as http,
    ):
        refused = await http.post("/signups", json={"email": 3})
        assert refused.status_code == 400 and "Expected `str`, got `int`" in refused.text
        assert await admin.find({"type": "emails.welcome"}) == []  # refused before storing
        signups = await asyncio.gather(
            *(http.post("/signups", json={"email": f"u{n}@b.c"}) for n in range(20))
        )
        assert {r.status_code for r in signups} == {202}
        for response in signups:
            await wait_status(admin, response.json()["job"], "completed")
        shown = (await http.get(f"/jobs/{signups[0].json()['job']}")).json()
        assert shown["status"] == "completed" and "u0@b.c" in shown["result"]
        assert (await http.post("/reports", params={"pages": 2})).json() == {"pages": 2}
        assert (await http.get("/jobs/nope")).status_code == 404


async def test_django_site_enqueues_from_a_view_and_its_command_serves_the_tasks(
    live_server, tmp_path
):
    log_path = tmp_path / "django-worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, MANAGE, "livejobs_worker", "--concurrency", "2"],
            cwd=ROOT,
            env=env_for(live_server),
            stdout=log,
            stderr=log,
        )
    try:
        site = ("-u", MANAGE, "runserver", "--noreload", "127.0.0.1:{port}")
        async with live_server.client() as admin, web_app(live_server, tmp_path, *site) as http:
            refused = await http.post("/signups", json={"email": ["a@b.c"]})
            assert refused.status_code == 400 and "Expected `str`, got `array`" in refused.text
            accepted = await http.post("/signups", json={"email": "d@j.go", "name": "Django"})
            assert accepted.status_code == 202
            job_id = accepted.json()["job"]
            await wait_status(admin, job_id, "completed")
            shown = (await http.get(f"/jobs/{job_id}")).json()
            assert shown == {
                "status": "completed",
                "result": "Hello Django, welcome! (sent to d@j.go)",
            }
            assert (await http.get("/jobs/nope")).status_code == 404
            assert await admin.find({"type": "emails.welcome"}) != []
        worker.send_signal(signal.SIGTERM)  # graceful: the command returns, exit 0
        assert await asyncio.to_thread(worker.wait, 20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            await asyncio.to_thread(worker.wait, 10)
    output = log_path.read_text()
    assert "serving emails.welcome, reports.build" in output and "stopped" in output
    assert "Traceback" not in output, output


def test_an_app_the_suite_starts_stops_on_ctrl_c_even_when_the_suite_runs_in_the_background():
    """``web_app`` stops an app with SIGINT. A suite started as a background job (``make test
    &``, nohup, some CI runners) begins with SIGINT ignored, which its processes would inherit:
    a Flask or Django app would then ignore the Ctrl-C and the test wait for it in vain."""
    script = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert shown.stdout.strip() == "True", shown.stderr
