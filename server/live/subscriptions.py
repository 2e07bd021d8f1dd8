"""Live queries: each subscription gets its matching jobs, then every change as
added/changed/removed. Fed only by the store's change feed.

Subscriptions with the same filter share one group, so a change is matched once per distinct
filter and its document is encoded once for everyone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from server import protocol
from server.jobs.model import Job
from server.query import matches
from server.session import Session
from server.store.base import Change, Store

log = logging.getLogger("livejobs.live")


@dataclass(eq=False, slots=True)
class Subscription:
    sub_id: str
    session: Session
    filter: dict[str, Any]
    sub_json: str
    ids: set[str] = field(default_factory=set)
    #: changes that arrived while the first snapshot was being sent (None once live)
    backlog: list[tuple[Change, bool]] | None = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Group:
    filter: dict[str, Any]
    subs: set[Subscription] = field(default_factory=set)


def _public(doc: Job) -> Job:
    """Subscribers never see ``private``."""
    return doc if doc.get("private") is None else {**doc, "private": None}


class Subscriptions:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._groups: dict[str, Group] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def __len__(self) -> int:
        return sum(len(g.subs) for g in self._groups.values())

    def open(self, session: Session, sub_id: str, filter: dict[str, Any]) -> Subscription:
        """Register at once (changes are held back), then send the snapshot in a task so that
        the caller's reply goes out before the first document."""
        sub = Subscription(sub_id, session, filter, protocol.encode(sub_id))
        self._groups.setdefault(protocol.encode(filter), Group(filter)).subs.add(sub)
        session.subscriptions[sub_id] = sub
        task = asyncio.ensure_future(self._first_snapshot(sub))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return sub

    async def _first_snapshot(self, sub: Subscription) -> None:
        try:
            await self._snapshot(sub)
        except Exception:
            log.exception("snapshot of subscription %s failed", sub.sub_id)
            self.close(sub)
            sub.session.close("subscription snapshot failed")

    async def _snapshot(self, sub: Subscription) -> None:
        docs = await self.store.find(sub.filter)
        versions: dict[str, int] = {}
        for n, doc in enumerate(docs, 1):
            sub.ids.add(doc["id"])
            versions[doc["id"]] = doc["version"]
            sub.session.send(protocol.sub_doc("added", sub.sub_json, protocol.encode(_public(doc))))
            if n % 500 == 0:
                await sub.session.wait_writable()  # a large snapshot must not trip the slow-client cap
        sub.session.send(protocol.sub_marker("ready", sub.sub_json))
        backlog, sub.backlog = sub.backlog or [], None
        for change, matched in backlog:
            doc = change.doc
            if doc is not None and versions.get(change.id, 0) >= doc["version"]:
                continue  # the snapshot already had this version or a newer one
            self._apply(sub, change, matched, None)

    def close(self, sub: Subscription) -> None:
        sub.session.subscriptions.pop(sub.sub_id, None)
        key = protocol.encode(sub.filter)
        group = self._groups.get(key)
        if group is not None:
            group.subs.discard(sub)
            if not group.subs:
                del self._groups[key]

    def close_session(self, session: Session) -> None:
        for sub in list(session.subscriptions.values()):
            self.close(sub)

    def on_change(self, change: Change) -> None:
        if change.op == "reset":
            for group in list(self._groups.values()):
                for sub in list(group.subs):
                    asyncio.ensure_future(self._resync(sub))
            return
        doc = change.doc
        encoded: list[str | None] = [None]
        for group in self._groups.values():
            matched = doc is not None and matches(doc, group.filter)
            for sub in group.subs:
                if sub.backlog is not None:
                    sub.backlog.append((change, matched))
                else:
                    self._apply(sub, change, matched, encoded)

    def _apply(
        self, sub: Subscription, change: Change, matched: bool, encoded: list[str | None] | None
    ) -> None:
        if matched:
            assert change.doc is not None
            kind = "changed" if change.id in sub.ids else "added"
            sub.ids.add(change.id)
            if encoded is None:
                doc_json = protocol.encode(_public(change.doc))
            else:
                if encoded[0] is None:
                    encoded[0] = protocol.encode(_public(change.doc))
                doc_json = encoded[0]
            sub.session.send(protocol.sub_doc(kind, sub.sub_json, doc_json))
        elif change.id in sub.ids:
            sub.ids.discard(change.id)
            sub.session.send(protocol.sub_removed(sub.sub_json, protocol.encode(change.id)))

    async def _resync(self, sub: Subscription) -> None:
        """The feed lost continuity: tell the client to drop its copy, then resend the truth."""
        sub.ids.clear()
        sub.backlog = []
        sub.session.send(protocol.sub_marker("reset", sub.sub_json))
        try:
            await self._snapshot(sub)
        except Exception:  # the store is down: the client will see the socket close
            log.exception("resync of subscription %s failed", sub.sub_id)
            sub.session.close("subscription could not be resynchronised")
