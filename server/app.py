"""``create_app``: the Starlette app assembled from data, its lifespan owning the store, the
change feed and the timers. No module-level state: tests build as many apps as they like."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from livejobs import protocol
from livejobs.auth import Auth
from livejobs.auth_limit import AuthLimiter
from livejobs.clock import Clock, StoreClock
from livejobs.credentials import KINDS as CREDENTIALS
from livejobs.credentials import Credentials
from livejobs.edges import http_api, ws
from livejobs.jobs.bounds import DocLimits
from livejobs.jobs.flow import KIND as FLOW_RULES
from livejobs.jobs.service import JobService
from livejobs.methods import Services
from livejobs.permissions import Permissions, Rules
from livejobs.runtime import metrics
from livejobs.runtime.dispatch import Dispatcher
from livejobs.runtime.scheduler import Scheduler
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.session import Flusher, Session
from livejobs.settings import Settings
from livejobs.store.base import Store, open_store

log = logging.getLogger("livejobs")


def _announce(token: str, settings: Settings) -> None:
    print(
        f"\nlivejobs: created user 'admin' with token\n\n    {token}\n\n"
        "Keep it: it is shown only this once.\n"
        f"Dashboard: http://{settings.host}:{settings.port}/\n",
        flush=True,
    )


def create_app(
    settings: Settings,
    store: Store | None = None,
    clock: Clock | None = None,
    announce: Callable[[str, Settings], None] = _announce,
) -> Starlette:
    clock = clock or StoreClock()
    app_metrics = metrics.Metrics(settings.max_metric_types)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backend = store or open_store_for(settings)
        await backend.open()
        if isinstance(clock, StoreClock):  # before anything reads the time
            await clock.sync(backend.store_time)
        changes = backend.watch()
        jobs = JobService(
            backend,
            clock,
            retain=settings.retain_seconds,
            lease=settings.lease_seconds,
            max_data=settings.max_data_bytes,
            request_seconds=settings.request_id_seconds,
            min_repeat=settings.min_repeat_seconds,
            limits=DocLimits(
                log_entries=settings.max_log_entries,
                log_entry_bytes=settings.max_log_entry_bytes,
                error_bytes=settings.max_error_bytes,
            ),
        )
        limiter = AuthLimiter(
            clock,
            settings.auth_free_failures,
            settings.auth_backoff_seconds,
            settings.auth_backoff_max,
        )
        auth = Auth(backend, clock, settings.anonymous_role, limiter)
        flusher = Flusher()
        services = Services(
            settings=settings,
            store=backend,
            clock=clock,
            jobs=jobs,
            auth=auth,
            permissions=Permissions(Rules.load(settings.rules, settings.extra.get("rules"))),
            subscriptions=Subscriptions(backend, flusher),
            dispatcher=Dispatcher(jobs),
        )
        if backend.ordered_writes:  # claims for a new job join its insert's commit
            jobs.inserting.append(services.dispatcher.announce)
        scheduler = Scheduler(backend, jobs, clock)
        app.state.services = services
        app.state.scheduler = scheduler
        app.state.sessions = set()
        credentials = Credentials(auth, clock, app.state.sessions)
        services.credentials = credentials
        app.state.flusher = flusher
        app_metrics.bind(services, app.state.sessions)
        #: more readers of the feed (metrics, the shutdown drain), after the core three
        app.state.feed_listeners = [app_metrics.on_change]
        await jobs.flow.load()
        token = await auth.bootstrap(settings.admin_token)
        if token:
            announce(token, settings)

        async def push_types(sessions: set[Session]) -> None:
            """Every ``types.watch`` caller gets the whole list again (it is short)."""
            watching = [s for s in sessions if s.watching_types and s.open]
            if watching:
                frame = protocol.types_pushed(await jobs.flow.describe())
                for session in watching:
                    session.send(frame)

        async def feed() -> None:
            listeners = app.state.feed_listeners  # one list, appended to in place
            while batch := await changes.batch():
                for change in batch:
                    if change.op == "record":  # a record changed, maybe by another server
                        kind, _, record_id = change.id.partition("/")
                        if kind == FLOW_RULES:
                            await jobs.flow.reload(record_id)
                            services.dispatcher.type_changed(record_id)
                            await push_types(app.state.sessions)
                        elif kind in CREDENTIALS:  # sessions follow their tokens and users
                            await credentials.changed(kind, record_id)
                        continue
                    services.subscriptions.on_change(change)
                    services.dispatcher.on_change(change)
                    scheduler.on_change(change)
                    for listener in listeners:
                        try:
                            listener(change)
                        except Exception:  # a reader's bug must never stop the feed
                            log.exception("feed listener %r failed", listener)

        tasks = [
            asyncio.create_task(feed(), name="livejobs-feed"),
            asyncio.create_task(services.dispatcher.run(), name="livejobs-dispatch"),
            asyncio.create_task(services.dispatcher.run_openings(), name="livejobs-rate-timer"),
            asyncio.create_task(scheduler.run(), name="livejobs-scheduler"),
        ]
        if isinstance(clock, StoreClock):
            tasks.append(asyncio.create_task(clock.keep_synced(backend.store_time)))
        app.state.tasks = tasks
        try:
            yield
        finally:
            sessions: set[Session] = app.state.sessions
            for session in list(sessions):
                session.close("server shutting down")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await backend.close()

    routes = [
        WebSocketRoute("/ws", ws.endpoint),
        Route("/openapi.json", http_api.openapi_route),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.route),
        Mount("/api", routes=http_api.routes),
    ]
    if Path(settings.web_dir).is_dir():
        routes.append(Mount("/", StaticFiles(directory=settings.web_dir, html=True)))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(http_api.ProtocolHeader)],
        exception_handlers={HTTPException: http_api.routing_error},
    )
    app.state.metrics = app_metrics
    return app


def open_store_for(settings: Settings) -> Store:
    return open_store(settings.db, synchronous=settings.sqlite_synchronous or "NORMAL")


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Ready when the store answers and the change feed, dispatcher and timer are running; a
    draining server (shutting down, the listener still open) says so, for load balancers."""
    if request.app.state.services.dispatcher.draining:
        return JSONResponse(
            {"ok": False, "status": "draining", "problems": ["shutting down"]}, status_code=503
        )
    problems = []
    try:
        await request.app.state.services.store.ping()
    except Exception as exc:
        problems.append(f"store unreachable: {type(exc).__name__}")
    for task in request.app.state.tasks:
        if task.done():
            problems.append(f"{task.get_name()} stopped")
    if problems:
        return JSONResponse({"ok": False, "problems": problems}, status_code=503)
    return JSONResponse({"ok": True})
