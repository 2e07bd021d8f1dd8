"""Live queries: each subscription gets its matching jobs, then every change as
added/changed/removed. Fed only by the store's change feed.

Subscriptions with the same filter share one group. Once live, every member of a group holds
exactly the same set of matching ids, so a change is matched once per group, its kind decided
once, its document encoded once, and its frame added to the group's shared run
(``livejobs.runs``), which each member's writer renders at the next flush. Fan-out to a
thousand subscribers then costs per subscriber per flush, not per change.

A group is a filter *and* a view (the subscriber's role, ``livejobs.visibility``): members of a
group read the same fields, so one encoded document serves them all, and a change is projected
and encoded once per view it reaches, not once per subscriber.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from livejobs import protocol
from livejobs.errors import RateLimited, TooLarge
from livejobs.flusher import Flusher
from livejobs.jobs.model import Job
from livejobs.query import matches, pinned
from livejobs.runs import Run, RunView
from livejobs.runtime.connection import Connection, Subscription
from livejobs.runtime.user_reads import UserReads
from livejobs.runtime.windows import Window, Windows
from livejobs.settings import Settings
from livejobs.store.base import Change, Store
from livejobs.visibility import project

log = logging.getLogger("livejobs.live")


@dataclass(eq=False, slots=True)
class Group:
    filter: dict[str, Any]
    view: str
    #: the job types the filter can match, or None for any (``query.pinned``)
    types: frozenset[str] | None = None
    #: what each job must pass besides the filter: its members' callable read rules
    #: (``Permissions.reader``; such a group is its user's alone), or None
    reader: Callable[[Job], bool] | None = None
    #: members still sending their snapshot (their changes are held in their backlog)
    starting: set[Subscription] = field(default_factory=set)
    #: live members, all sharing ``ids``
    live: list[Subscription] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    #: the run gathering this group's frames until the next flush (None when none is open)
    run: Run | None = None

    def __len__(self) -> int:
        return len(self.starting) + len(self.live)

    def open_run(self, flusher: Flusher) -> Run:
        """A new run, queued to every live member now."""
        run = self.run = Run(self._sealed)
        flusher.seal_later(run)
        for sub in self.live:
            sub.session.send_run(RunView(run, sub.sub_json))
        return run

    def seal(self) -> None:
        """Before the live members change: each run goes to exactly the members it had."""
        if self.run is not None:
            self.run.seal()

    def _sealed(self, run: Run) -> None:
        if self.run is run:
            self.run = None
        count = len(run)
        for sub in self.live:
            sub.session.add_frames(count, run.size(len(sub.sub_json)))


def group_key(view: str, filter: dict[str, Any]) -> str:
    """Subscribers share a group, and its frames, when they read the same fields of the same
    filter's jobs."""
    return f"{view} {protocol.encode(filter)}"


class Subscriptions:
    def __init__(self, store: Store, flusher: Flusher, reads: UserReads | None = None) -> None:
        self.store = store
        self.flusher = flusher
        #: a snapshot's read takes its user's turn, as ``jobs.find`` does
        self.reads = reads or UserReads()
        self._groups: dict[str, Group] = {}
        #: the groups whose filters pin the job type, under each type; and the others. A change
        #: is matched against the groups of its type and the others, never the rest: an idle
        #: subscription to another type costs nothing per change
        self._typed: dict[str, dict[str, Group]] = {}
        self._untyped: dict[str, Group] = {}
        #: sorted, limited live queries and count feeds (``livejobs.runtime.windows``)
        self.windows = Windows(store)
        self._tasks: set[asyncio.Future[None]] = set()
        #: per user, across connections: [open subscriptions, the cost of its distinct filters]
        self._by_user: dict[str, list[int]] = {}
        #: (user, filter key) → that user's subscriptions with that filter: a filter is
        #: evaluated once per change however many subscribe to it, so it is charged once
        self._user_filters: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values()) + len(self.windows)

    def used(self, user: str) -> tuple[int, int]:
        """The subscriptions ``user`` holds on this server, and the cost of their distinct
        filters."""
        count, cost = self._by_user.get(user, (0, 0))
        return count, cost

    def admit(
        self,
        session: Connection,
        user: str,
        view: str,
        filter: dict[str, Any],
        cost: int,
        settings: Settings,
    ) -> None:
        """Every live filter is evaluated on every change: bound what one subscription, one
        connection and one user (across its connections) may make the server evaluate. The
        user pays for distinct filters: many clients sharing an identity and a filter (a
        dashboard) cost one evaluation per change."""
        if cost > settings.max_filter_cost:
            raise TooLarge(
                f"filter costs {cost} steps per change; the limit is {settings.max_filter_cost}"
            )
        mine = sum(sub.cost for sub in session.subscriptions.values()) + cost
        if mine > settings.max_filter_cost_per_connection:
            raise RateLimited(
                f"this connection's filters would cost {mine} steps per change; the limit is"
                f" {settings.max_filter_cost_per_connection} (unsubscribe some first)"
            )
        count, total = self.used(user)
        if (user, group_key(view, filter)) in self._user_filters:
            cost = 0  # already evaluated for this user
        if count >= settings.max_subscriptions_per_user:
            raise RateLimited(
                f"user {user} holds {count} subscriptions; the limit is"
                f" {settings.max_subscriptions_per_user} across its connections"
            )
        if total + cost > settings.max_filter_cost_per_user:
            raise RateLimited(
                f"user {user}'s filters would cost {total + cost} steps per change; the limit"
                f" is {settings.max_filter_cost_per_user} across its connections"
            )

    def open(
        self,
        session: Connection,
        sub_id: str,
        filter: dict[str, Any],
        view: str,
        cost: int = 0,
        reader: Callable[[Job], bool] | None = None,
    ) -> Subscription:
        """Register at once (changes are held back), then send the snapshot in a task so that
        the caller's reply goes out before the first document."""
        key = group_key(view, filter)
        if reader is not None:
            key += f" @{session.identity.user if session.identity else ''}"
        sub = Subscription(sub_id, session, filter, key, protocol.encode(sub_id), view, cost)
        group = self._groups.get(key) or self._new_group(key, filter, view)
        group.reader = reader  # the same user's: the same rules
        group.starting.add(sub)
        session.subscriptions[sub_id] = sub
        self._account(sub, 1)
        self._spawn(self._first_snapshot(sub))
        return sub

    def _new_group(self, key: str, filter: dict[str, Any], view: str) -> Group:
        group = self._groups[key] = Group(filter, view, pinned(filter, "type"))
        if group.types is None:
            self._untyped[key] = group
        for job_type in group.types or ():
            self._typed.setdefault(job_type, {})[key] = group
        return group

    def _drop_group(self, key: str) -> None:
        group = self._groups.pop(key)
        self._untyped.pop(key, None)
        for job_type in group.types or ():
            typed = self._typed[job_type]
            del typed[key]
            if not typed:
                del self._typed[job_type]

    def open_window(self, session: Connection, sub_id: str, window: Window, cost: int) -> None:
        """A sorted, limited live query or a count feed instead of the whole filter."""
        sub_json = protocol.encode(sub_id)
        sub = Subscription(sub_id, session, window.filter, window.key, sub_json, window.view, cost)
        session.subscriptions[sub_id] = sub
        self._account(sub, 1)
        self.windows.open(sub, window)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _first_snapshot(self, sub: Subscription) -> None:
        try:
            await self._snapshot(sub)
        except Exception:
            log.exception("snapshot of subscription %s failed", sub.sub_id)
            self.close(sub)
            sub.session.close("subscription snapshot failed")

    async def _snapshot(self, sub: Subscription) -> None:
        """Every matching job, then ``ready`` and the changes held back meanwhile. A snapshot
        holds its jobs until the client has read them, so a connection's snapshots take turns:
        a client that reads nothing holds one copy of its jobs, not one per subscription."""
        async with sub.session.snapshot_turn:
            if sub.session.subscriptions.get(sub.sub_id) is not sub:
                return  # closed while it waited for its turn
            await self._send_snapshot(sub)

    async def _send_snapshot(self, sub: Subscription) -> None:
        identity = sub.session.identity
        async with self.reads.turn(identity.user if identity else ""):
            docs = await self.store.find(sub.filter)
        if (group := self._groups.get(sub.key)) is not None and group.reader is not None:
            docs = [doc for doc in docs if group.reader(doc)]
        versions: dict[str, int] = {}
        for n, doc in enumerate(docs, 1):
            sub.ids.add(doc["id"])
            versions[doc["id"]] = doc["version"]
            sub.session.send_live(
                protocol.sub_frame("added", sub.sub_json, _encoded(doc, sub.view))
            )
            session = sub.session
            if n % 500 == 0 or session.queued_bytes > session.low_water_bytes:
                await session.wait_writable()  # a large snapshot must not trip the caps
        sub.session.send_live(protocol.sub_marker("ready", sub.sub_json))
        backlog, sub.backlog = sub.backlog or [], None
        for change, matched in backlog:
            changed = change.doc
            if changed is not None and versions.get(change.id, 0) >= changed["version"]:
                continue  # the snapshot already had this version or a newer one
            self._apply_one(sub, change, matched)
        self._go_live(sub)

    def _go_live(self, sub: Subscription) -> None:
        group = self._groups.get(sub.key)
        if group is None or sub not in group.starting:
            return  # closed while its snapshot was being sent
        group.starting.discard(sub)
        group.seal()
        if group.live:
            # the group has tracked every change processed so far, as this snapshot now has
            sub.ids = group.ids
        else:
            group.ids = sub.ids
        group.live.append(sub)

    def _account(self, sub: Subscription, sign: int) -> None:
        user = sub.session.identity.user if sub.session.identity else ""
        used = self._by_user.setdefault(user, [0, 0])
        used[0] += sign
        same = (user, sub.key)
        holders = self._user_filters.get(same, 0) + sign
        if holders > 0:
            self._user_filters[same] = holders
        else:
            self._user_filters.pop(same, None)
        if holders == (1 if sign > 0 else 0):  # the first of this filter, or the last
            used[1] += sign * sub.cost
        if used[0] <= 0:
            del self._by_user[user]

    def close(self, sub: Subscription) -> None:
        if sub.session.subscriptions.pop(sub.sub_id, None) is sub:
            self._account(sub, -1)
        if self.windows.close(sub):
            return
        group = self._groups.get(sub.key)
        if group is None:
            return
        group.starting.discard(sub)
        if sub in group.live:
            group.seal()
            group.live.remove(sub)
            sub.ids = set(sub.ids)  # stop sharing the group's set
        if not group:
            self._drop_group(sub.key)

    def close_session(self, session: Connection) -> None:
        for sub in list(session.subscriptions.values()):
            self.close(sub)

    def on_change(self, change: Change) -> None:
        self.windows.on_change(change)
        if change.op == "reset":
            for group in list(self._groups.values()):
                for sub in [*group.live, *group.starting]:
                    self._spawn(self._resync(sub))
            return
        doc = change.doc
        #: view → the document encoded as that view reads it, built once per change
        encoded: dict[str, str] = {}
        for group in self._reached_by(doc):
            matched = (
                doc is not None
                and matches(doc, group.filter)
                and (group.reader is None or group.reader(doc))
            )
            for sub in group.starting:
                assert sub.backlog is not None
                sub.backlog.append((change, matched))
            if not group.live:
                continue
            ids = group.ids
            if matched:
                assert doc is not None
                kind = "changed" if change.id in ids else "added"
                ids.add(change.id)
                doc_json = encoded.get(group.view)
                if doc_json is None:
                    doc_json = encoded[group.view] = _encoded(doc, group.view)
                head, tail = protocol.sub_frame_parts(kind, doc_json)
            elif change.id in ids:
                ids.discard(change.id)
                head, tail = protocol.sub_removed_parts(protocol.encode(change.id))
            else:
                continue
            (group.run or group.open_run(self.flusher)).add(head, tail)

    def _reached_by(self, doc: Job | None) -> Iterable[Group]:
        """The groups a change may concern: a job's type never changes, so a group pinned to
        other types neither matches it nor holds its id. A deletion (no document) may concern
        any group."""
        job_type = doc.get("type") if doc is not None else None
        if type(job_type) is not str:
            return self._groups.values()
        typed = self._typed.get(job_type)
        if typed is None:
            return self._untyped.values()
        return itertools.chain(self._untyped.values(), typed.values())

    def _apply_one(self, sub: Subscription, change: Change, matched: bool) -> None:
        if matched:
            assert change.doc is not None
            kind = "changed" if change.id in sub.ids else "added"
            sub.ids.add(change.id)
            sub.session.send_live(
                protocol.sub_frame(kind, sub.sub_json, _encoded(change.doc, sub.view))
            )
        elif change.id in sub.ids:
            sub.ids.discard(change.id)
            head, tail = protocol.sub_removed_parts(protocol.encode(change.id))
            sub.session.send_live((head, sub.sub_json, tail))

    async def _resync(self, sub: Subscription) -> None:
        """The feed lost continuity: tell the client to drop its copy, then resend the truth."""
        group = self._groups.get(sub.key)
        if group is None:
            return
        if sub in group.live:
            group.seal()
            group.live.remove(sub)
            if not group.live:
                group.ids = set()
        group.starting.add(sub)
        sub.ids = set()
        sub.backlog = []
        sub.session.send_live(protocol.sub_marker("reset", sub.sub_json))
        try:
            await self._snapshot(sub)
        except Exception:  # the store is down: the client will see the socket close
            log.exception("resync of subscription %s failed", sub.sub_id)
            sub.session.close("subscription could not be resynchronised")


def _encoded(doc: Job, view: str) -> str:
    return protocol.encode(project(doc, view, live=True))
