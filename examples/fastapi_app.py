"""FastAPI with livejobs: one async ``Client`` opened in the lifespan and handed to routes by a
dependency; a route streams a job's live progress to the browser as server-sent events.

    LIVEJOBS_URL=http://127.0.0.1:8000 LIVEJOBS_TOKEN=lj_... uvicorn examples.fastapi_app:app
    livejobs worker examples.tasks                  # in another terminal
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from examples.tasks import build_report, send_welcome, tasks
from livejobs_sdk import CallError, Client, InvalidArguments
from livejobs_sdk.job import FINISHED
from livejobs_sdk.tasks import ws_url


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url, token = ws_url(os.environ["LIVEJOBS_URL"]), os.environ.get("LIVEJOBS_TOKEN")
    async with Client(url, token) as client:  # one connection for every request
        app.state.livejobs = client
        tasks.use(client)  # the tasks' *_async calls go through it
        yield
        tasks.use(None)


app = FastAPI(lifespan=lifespan)


def livejobs(request: Request) -> Client:
    return request.app.state.livejobs  # type: ignore[no-any-return]


Livejobs = Annotated[Client, Depends(livejobs)]


class Signup(BaseModel):
    email: str
    name: str = "there"


@app.post("/signups", status_code=202)
async def signup(body: Signup) -> dict[str, str]:
    job = await send_welcome.enqueue_async(email=body.email, name=body.name)
    return {"job": job.id}


@app.post("/reports", status_code=202)
async def report(pages: int) -> dict[str, str]:
    try:
        job = await build_report.enqueue_async(pages=pages)
    except InvalidArguments as exc:  # refused before anything was stored
        raise HTTPException(400, str(exc)) from None
    return {"job": job.id}


@app.get("/jobs/{job_id}")
async def job(job_id: str, client: Livejobs) -> dict[str, Any]:
    try:
        doc = await client.get_job(job_id)
    except CallError as exc:
        raise HTTPException(404 if exc.code == "not_found" else 400, exc.message) from None
    return {"status": doc["status"], "result": doc.get("result")}


@app.get("/jobs/{job_id}/events")
async def job_events(job_id: str, client: Livejobs) -> StreamingResponse:
    """The job's status and progress as they change, until it finishes (``EventSource``)."""

    async def stream() -> AsyncIterator[str]:
        async with client.subscribe({"id": job_id}) as live:
            async for event in live:
                doc = live.docs.get(job_id)
                if doc is None:
                    if event.kind == "ready":  # no such job (or not visible to this token)
                        yield "event: gone\ndata: {}\n\n"
                        return
                    continue
                state = {"status": doc["status"], "percent": doc["progress"]["percent"]}
                yield f"data: {json.dumps(state)}\n\n"
                if doc["status"] in FINISHED:
                    return

    return StreamingResponse(stream(), media_type="text/event-stream")
