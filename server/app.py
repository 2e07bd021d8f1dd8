"""``create_app``: the Starlette app assembled from data, its lifespan owning the store, the
change feed and the timers. No module-level state: tests build as many apps as they like."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from livejobs.auth import Auth
from livejobs.auth_limit import AuthLimiter
from livejobs.clock import Clock, StoreClock
from livejobs.credentials import KINDS as CREDENTIALS
from livejobs.credentials import Credentials
from livejobs.edges import http_api, ws
from livejobs.edges.dashboard_headers import DashboardHeaders
from livejobs.edges.http_problems import problem
from livejobs.flusher import Flusher
from livejobs.jobs.bounds import DocLimits
from livejobs.methods import Services, grants
from livejobs.permissions import Permissions, Rules
from livejobs.runtime.dispatch import Dispatcher
from livejobs.runtime.fanout import Fanout
from livejobs.runtime.history import History
from livejobs.runtime.keeper import Keeper
from livejobs.runtime.metrics import Metrics, Sources
from livejobs.runtime.scheduler import Scheduler
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.runtime.user_reads import UserReads
from livejobs.runtime.workers import WorkerWatch
from livejobs.service import JobService
from livejobs.session import Session
from livejobs.settings import Settings, has_dashboard
from livejobs.state import ATTRIBUTE, AppState, state_of
from livejobs.store import open_store
from livejobs.store.base import Store

log = logging.getLogger("livejobs")


def _announce(token: str, settings: Settings) -> None:
    dashboard = (
        f"Dashboard: http://{settings.host}:{settings.port}/"
        if has_dashboard(settings.web_dir)
        else f"No dashboard: {settings.web_dir} holds no index.html"
    )
    print(
        f"\nlivejobs: created user 'admin' with token\n\n    {token}\n\n"
        f"Keep it: it is shown only this once.\n{dashboard}\n",
        flush=True,
    )


def create_app(
    settings: Settings,
    store: Store | None = None,
    clock: Clock | None = None,
    announce: Callable[[str, Settings], None] = _announce,
) -> Starlette:
    store_clock = clock or StoreClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backend = store or open_store_for(settings)
        await backend.open()
        if isinstance(store_clock, StoreClock):  # before anything reads the time
            await store_clock.sync(backend.store_time)
        state = _build(settings, backend, store_clock)
        setattr(app.state, ATTRIBUTE, state)
        await state.services.jobs.flow.load()
        token = await state.services.auth.bootstrap(settings.admin_token)
        if token:
            announce(token, settings)
        state.tasks = _start(state)
        if isinstance(store_clock, StoreClock):
            state.tasks.append(asyncio.create_task(store_clock.keep_synced(backend.store_time)))
        try:
            yield
        finally:
            for session in list(state.sessions):
                session.close("server shutting down")
            for task in state.tasks:
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)
            await _last_history(state)
            await backend.close()

    routes = [
        WebSocketRoute("/ws", ws.endpoint),
        Route("/openapi.json", http_api.openapi_route),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Mount("/api", routes=http_api.routes),
    ]
    if has_dashboard(settings.web_dir):
        files = StaticFiles(directory=settings.web_dir, html=True)
        routes.append(Mount("/", DashboardHeaders(files)))
    else:
        log.warning("no dashboard at /: %s holds no index.html", settings.web_dir)
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(http_api.ProtocolHeader)],
        exception_handlers={HTTPException: http_api.routing_error},
    )


def open_store_for(settings: Settings) -> Store:
    return open_store(settings.db, synchronous=settings.sqlite_synchronous or "NORMAL")


def _services(settings: Settings, backend: Store, clock: Clock, flusher: Flusher) -> Services:
    jobs = JobService(
        backend,
        clock,
        retain=settings.retain_seconds,
        lease=settings.lease_seconds,
        max_data=settings.max_data_bytes,
        request_seconds=settings.request_id_seconds,
        min_repeat=settings.min_repeat_seconds,
        default_retry=msgspec.to_builtins(settings.default_retry),
        limits=DocLimits(
            log_entries=settings.max_log_entries,
            log_entry_bytes=settings.max_log_entry_bytes,
            error_bytes=settings.max_error_bytes,
        ),
    )
    limiter = AuthLimiter(
        clock, settings.auth_free_failures, settings.auth_backoff_seconds, settings.auth_backoff_max
    )
    dispatcher = Dispatcher(jobs)
    if backend.ordered_writes:  # claims for a new job join its insert's commit
        jobs.inserting.append(dispatcher.announce)
    reads = UserReads()
    return Services(
        settings=settings,
        store=backend,
        clock=clock,
        jobs=jobs,
        auth=Auth(backend, clock, settings.anonymous_role, limiter),
        permissions=Permissions(
            Rules.load(settings.rules, settings.extra.get("rules")), grants=grants()
        ),
        subscriptions=Subscriptions(backend, flusher, reads),
        dispatcher=dispatcher,
        reads=reads,
    )


def _build(settings: Settings, backend: Store, clock: Clock) -> AppState:
    """The services and the runtime around them, wired; nothing runs yet. The feed is watched
    first, so that no change committed from here on is missed."""
    changes = backend.watch()
    flusher = Flusher()
    services = _services(settings, backend, clock, flusher)
    scheduler = Scheduler(backend, services.jobs, clock)
    sessions: set[Session] = set()
    credentials = services.credentials = Credentials(services.auth, clock, sessions)
    fanout = Fanout(
        changes,
        services.jobs.flow,
        services.dispatcher,
        services.subscriptions,
        scheduler,
        sessions,
    )
    for kind in CREDENTIALS:  # sessions follow their tokens and users
        fanout.records[kind] = functools.partial(credentials.changed, kind)
    metrics = Metrics(settings.max_metric_types)
    history = services.history = History(
        backend,
        clock,
        metrics.label,
        flush_seconds=settings.history_flush_seconds,
        keep={"minute": settings.history_minutes_seconds, "hour": settings.history_hours_seconds},
    )
    services.jobs.wrote.append(history.wrote)
    metrics.bind(
        Sources(clock, backend, services.dispatcher, services.subscriptions, sessions, history)
    )
    fanout.listeners.append(metrics.on_change)
    services.workers = WorkerWatch(services.dispatcher)
    fanout.listeners.append(services.workers.on_change)
    keeper = Keeper(services.jobs)
    fanout.listeners.append(keeper.on_change)
    fanout.on_rules.append(keeper.rules_changed)
    return AppState(services, flusher, scheduler, fanout, metrics, sessions, keeper)


def _start(state: AppState) -> list[asyncio.Task[None]]:
    dispatcher, history = state.services.dispatcher, state.services.history
    tasks = [
        asyncio.create_task(state.fanout.run(), name="livejobs-feed"),
        asyncio.create_task(dispatcher.run(), name="livejobs-dispatch"),
        asyncio.create_task(dispatcher.run_openings(), name="livejobs-rate-timer"),
        asyncio.create_task(state.scheduler.run(), name="livejobs-scheduler"),
        asyncio.create_task(state.keeper.run(), name="livejobs-keeper"),
    ]
    if history is not None:
        tasks.append(asyncio.create_task(history.run(), name="livejobs-history"))
    return tasks


async def _last_history(state: AppState) -> None:
    """The counts not yet stored, stored before the store closes (best effort)."""
    if state.services.history is not None:
        try:
            await state.services.history.flush()
        except Exception as exc:
            log.warning("could not store the last history counts: %s", exc)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Ready when the store answers and the change feed, dispatcher and timer are running; a
    draining server (shutting down, the listener still open) says so, for load balancers."""
    state = state_of(request.app)
    if state.services.dispatcher.draining:
        return JSONResponse(
            {"ok": False, "status": "draining", "problems": ["shutting down"]}, status_code=503
        )
    problems = []
    try:
        await state.services.store.ping()
    except Exception as exc:
        problems.append(f"store unreachable: {type(exc).__name__}")
    for task in state.tasks:
        if task.done():
            problems.append(f"{task.get_name()} stopped")
    if problems:
        return JSONResponse({"ok": False, "problems": problems}, status_code=503)
    return JSONResponse({"ok": True})


def _metrics_allowed(request: Request, token: str | None) -> bool:
    """With ``metrics_token`` set, a scrape must bear it (Prometheus: ``authorization``)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip(), token)


async def metrics(request: Request) -> Response:
    """``GET /metrics`` in the Prometheus text format (it holds no job data; a token is asked
    only when ``metrics_token`` is set)."""
    state = state_of(request.app)
    if not _metrics_allowed(request, state.services.settings.metrics_token):
        return problem(
            "unauthenticated",
            "/metrics needs the metrics token",
            401,
            headers={"www-authenticate": "Bearer"},
        )
    try:
        await state.metrics.refresh()
    except Exception as exc:  # the store is down: still serve the counters, say why
        return Response(
            f"# store unreachable: {type(exc).__name__}\n".encode() + state.metrics.exposition(),
            media_type=CONTENT_TYPE_LATEST,
        )
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
