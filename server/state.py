"""``AppState``: everything an app's lifespan builds, as one typed object that the edges, the
routes and the shutdown read (``state_of(app)``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.applications import Starlette

from livejobs.flusher import Flusher
from livejobs.methods import Services
from livejobs.runtime.fanout import Fanout
from livejobs.runtime.keeper import Keeper
from livejobs.runtime.metrics import Metrics
from livejobs.runtime.scheduler import Scheduler
from livejobs.session import Session

#: the attribute of Starlette's ``app.state`` that holds it
ATTRIBUTE = "livejobs"


@dataclass(eq=False, slots=True)
class AppState:
    services: Services
    flusher: Flusher
    scheduler: Scheduler
    fanout: Fanout
    metrics: Metrics
    #: the connected WebSocket sessions: the edge adds and discards them
    sessions: set[Session]
    #: trims the types that keep a count of finished jobs (``types.set_keep``)
    keeper: Keeper
    #: the background tasks (the feed, the dispatcher, the timers): ``/readyz`` checks them
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def state_of(app: Starlette) -> AppState:
    """The app's state, once its lifespan has started."""
    state: AppState | None = started(app)
    if state is None:
        raise RuntimeError("the app's lifespan has not started")
    return state


def started(app: Starlette) -> AppState | None:
    """The app's state, or None before its lifespan has started."""
    state: AppState | None = getattr(app.state, ATTRIBUTE, None)
    return state
