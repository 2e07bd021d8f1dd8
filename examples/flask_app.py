"""Flask with livejobs: one ``SyncClient`` at module level, shared by every request thread
(it is thread-safe and needs no event loop); typed tasks enqueued from views.

    LIVEJOBS_URL=http://127.0.0.1:8000 LIVEJOBS_TOKEN=lj_... flask --app examples.flask_app run
    livejobs worker examples.tasks                  # in another terminal
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request

from examples.tasks import build_report, send_welcome, tasks
from livejobs_sdk import CallError, InvalidArguments, SyncClient
from livejobs_sdk.tasks import ws_url

client = SyncClient(ws_url(os.environ["LIVEJOBS_URL"]), os.environ.get("LIVEJOBS_TOKEN"))
tasks.use(client)  # connects on first use, closes at exit

app = Flask(__name__)


@app.post("/signups")
def signup() -> tuple[dict[str, Any], int]:
    body = request.get_json(silent=True) or {}
    try:
        job = send_welcome.enqueue(email=body.get("email"), name=body.get("name", "there"))
    except InvalidArguments as exc:  # refused before anything was stored
        return {"error": str(exc)}, 400
    return {"job": job.id}, 202


@app.post("/reports")
def report() -> dict[str, Any]:
    """Waits for the result: fine for a short job (a thread per request)."""
    return build_report.run(pages=int(request.args.get("pages", "1")))


@app.get("/jobs/<job_id>")
def job(job_id: str) -> tuple[dict[str, Any], int]:
    try:
        doc = client.get_job(job_id)
    except CallError as exc:
        return {"error": exc.message}, 404 if exc.code == "not_found" else 400
    return {"status": doc["status"], "result": doc.get("result")}, 200
