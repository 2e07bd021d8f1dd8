"""The feed router: every committed change, read once from the store's change feed, handed to
each part of the runtime that follows it. Nothing else pushes to subscribers or workers, which
is what makes N servers on one database behave like one (docs/guarantees.md)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from livejobs import protocol
from livejobs.jobs.flow import KIND as FLOW_RULES
from livejobs.jobs.flow import FlowControl
from livejobs.permissions import seen_rules
from livejobs.runtime.dispatch import Dispatcher
from livejobs.runtime.scheduler import Scheduler
from livejobs.runtime.subscriptions import Subscriptions
from livejobs.session import Session
from livejobs.store.base import Change

log = logging.getLogger("livejobs")

#: what to do when a record of one kind changed (given its id), on this server or another
RecordHandler = Callable[[str], Awaitable[None]]
#: one more reader of every job change (metrics); it must not block
Listener = Callable[[Change], None]


class ChangeSource(Protocol):
    """The store's change feed as read here (``Store.watch``)."""

    async def batch(self) -> list[Change]: ...


class Fanout:
    """Job changes go to the subscriptions, the dispatcher and the timer, then to the
    ``listeners``; a record change (``op="record"``, id ``"<kind>/<id>"``) goes to the handler
    of its kind in ``records``. A type's flow rules are handled here; the app adds the rest."""

    def __init__(
        self,
        changes: ChangeSource,
        flow: FlowControl,
        dispatcher: Dispatcher,
        subscriptions: Subscriptions,
        scheduler: Scheduler,
        sessions: Iterable[Session],
    ) -> None:
        self._changes = changes
        self._flow = flow
        self._dispatcher = dispatcher
        self._subscriptions = subscriptions
        self._scheduler = scheduler
        self._sessions = sessions
        #: record kind → its handler
        self.records: dict[str, RecordHandler] = {FLOW_RULES: self.rules_changed}
        #: more readers of every job change, after the core three; appended to in place
        self.listeners: list[Listener] = []
        #: told the type whose rules changed, after they are reloaded
        self.on_rules: list[Callable[[str], None]] = []

    async def run(self) -> None:
        """Until the feed ends (the store closed). Runs for every change of every job."""
        subscriptions = self._subscriptions.on_change
        dispatcher = self._dispatcher.on_change
        scheduler = self._scheduler.on_change
        listeners = self.listeners
        while batch := await self._changes.batch():
            for change in batch:
                if change.op == "record":  # a record changed, maybe by another server
                    await self._record_changed(change.id)
                    continue
                subscriptions(change)
                dispatcher(change)
                scheduler(change)
                for listener in listeners:
                    try:
                        listener(change)
                    except Exception:  # a reader's bug must never stop the feed
                        log.exception("feed listener %r failed", listener)

    async def _record_changed(self, record: str) -> None:
        kind, _, record_id = record.partition("/")
        handler = self.records.get(kind)
        if handler is not None:
            await handler(record_id)

    async def rules_changed(self, job_type: str) -> None:
        """A type's flow rules changed (paused, resumed, limits): reload them, retry starved
        workers, tell the ``types.watch`` callers."""
        await self._flow.reload(job_type)
        self._dispatcher.type_changed(job_type)
        for hook in self.on_rules:
            hook(job_type)
        await self.push_types()

    async def push_types(self) -> None:
        """Every ``types.watch`` caller gets the whole list again (it is short)."""
        watching = [s for s in self._sessions if s.watching_types and s.open]
        if watching:
            rules = await self._flow.describe()
            every = protocol.types_pushed(rules)  # most watchers see every type: made once
            for session in watching:
                seen = session.types_seen
                if seen is None:
                    session.send(every)
                else:
                    session.send(protocol.types_pushed(seen_rules(rules, seen)))
