"""Live windows and live counts: what a dashboard needs at a million jobs without the collection.

A *window* is a sorted, filtered, limited live query (Meteor's reactive cursor with ``sort`` and
``limit``): the ``limit`` jobs from ``skip`` in ``sort`` order among those matching ``filter``.
Its subscribers get the window's jobs, then only what enters, leaves or changes it, and an
``order`` frame whenever the window's order or membership changes (docs/protocol.md). When a
member leaves, the window is refilled from the store, so it stays full.

The window is kept by asking the store again, not by sorting in memory: a change that may touch
the window (a job in it, or a job now matching the filter) marks it dirty, and one query with
``limit + 1`` rows (the extra row says whether more follow) runs at most once per
``INTERVAL``, however many changes came; the result is diffed against what the subscribers
hold. The store answers from an index (the sorts the dashboard offers have one), so a window
costs one small indexed read per interval while it is busy and nothing while it is idle.
Subscribers of the same window (view, filter, sort, limit, skip) share it: one query, one diff,
each frame encoded once.

A *count feed* (``subscribe`` with ``counts: true``) pushes ``jobs.counts`` for its filter, and
the counts per type per status, after changes, at most once per ``INTERVAL``; the store keeps
those counts in a small table, so each push is a few indexed rows, not a scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from livejobs import protocol
from livejobs.jobs.model import Job
from livejobs.query import matches
from livejobs.runtime.connection import Subscription
from livejobs.runtime.user_reads import UserReads
from livejobs.service import ruled_counts
from livejobs.store.base import Change, Sort, Store
from livejobs.visibility import project

log = logging.getLogger("livejobs.live")

INTERVAL = 0.05
"""Seconds between two queries of one busy window (changes within it are coalesced)."""

REST = 1.0
"""After each reread, window rereads rest this many times as long as it took: the store spends
at most ``1 / (1 + REST)`` of its time on them, whatever the windows cost."""


@dataclass(eq=False, slots=True)
class Window:
    """One live window, shared by the subscriptions that asked for the same one."""

    key: str
    filter: dict[str, Any]
    sort: Sort
    limit: int
    skip: int
    view: str
    counts: bool = False
    #: whose turn a reread takes (``Turns``): the user that opened the window
    user: str = ""
    #: what each row must pass besides the filter: the callable read rules of its user
    #: (``Permissions.reader``; such a window is that user's alone), or None
    reader: Callable[[Job], bool] | None = None
    members: list[Subscription] = field(default_factory=list)
    #: members that have had their first full window (and ``ready``)
    current: set[Subscription] = field(default_factory=set)
    #: the window as the members hold it, in order (unused by a count feed)
    rows: list[Job] = field(default_factory=list)
    more: bool = False
    last_counts: Any = None
    dirty: bool = True
    task: asyncio.Future[None] | None = None

    def touches(self, change: Change) -> bool:
        """Whether ``change`` may alter this window: a job in it, or one that now matches
        (leaving one that matched before and was outside the window changes nothing, except
        the rows before a skip, which are not tracked: a skipped window rereads always)."""
        if self.counts or self.skip or change.op == "reset":
            return True
        if change.doc is not None and matches(change.doc, self.filter):
            return True
        return any(row["id"] == change.id for row in self.rows)


def window_key(view: str, filter: dict[str, Any], sort: Sort, limit: int, skip: int) -> str:
    return "w " + protocol.encode([view, filter, [list(s) for s in sort], limit, skip])


def counts_key(view: str, filter: dict[str, Any]) -> str:
    return "c " + protocol.encode([view, filter])


class Turns:
    """Rereads take turns. Some are slow (a far ``skip``, a sort or count no index serves) and
    the store answers reads in order, so rereads queued together would hold every other read
    back for as long as they all take. One reread runs at a time on a server, each user's wait
    behind one another (a user with many windows does not delay others' more than one with
    one), and each is followed by a rest (``REST``): a call waits for at most one reread."""

    def __init__(self) -> None:
        self._server = asyncio.Lock()
        self._users = UserReads(per_user=1)

    @contextlib.asynccontextmanager
    async def turn(self, user: str) -> AsyncIterator[None]:
        async with self._users.turn(user), self._server:
            loop = asyncio.get_running_loop()
            started = loop.time()
            yield
            await asyncio.sleep((loop.time() - started) * REST)


class Windows:
    """Every live window and count feed of this server, fed by the change feed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._windows: dict[str, Window] = {}
        self._turns = Turns()

    def __len__(self) -> int:
        return sum(len(w.members) for w in self._windows.values())

    def open(self, sub: Subscription, window: Window) -> None:
        """Join ``sub`` to its window (made on first use); the rows follow from a task, so the
        caller's reply goes out first."""
        shared = self._windows.setdefault(window.key, window)
        if shared is window and sub.session.identity is not None:
            window.user = sub.session.identity.user
        shared.members.append(sub)
        shared.dirty = True
        self._kick(shared)

    def close(self, sub: Subscription) -> bool:
        """Forget ``sub`` if it is a window's; False when it is not one."""
        window = self._windows.get(sub.key)
        if window is None or sub not in window.members:
            return False
        window.members.remove(sub)
        window.current.discard(sub)
        if not window.members:
            del self._windows[sub.key]
            if window.task is not None:
                window.task.cancel()
        return True

    def on_change(self, change: Change) -> None:
        for window in self._windows.values():
            if not window.dirty and window.touches(change):
                window.dirty = True
                self._kick(window)

    def _kick(self, window: Window) -> None:
        if window.task is None or window.task.done():
            window.task = asyncio.ensure_future(self._refresh(window))

    async def _refresh(self, window: Window) -> None:
        """Reread the window while it keeps being touched; first at once, then at most once per
        ``INTERVAL``."""
        try:
            while window.dirty and window.members:
                async with self._turns.turn(window.user):
                    window.dirty = False
                    if window.counts:
                        await self._push_counts(window)
                    else:
                        await self._push_rows(window)
                await asyncio.sleep(INTERVAL)
        except asyncio.CancelledError:
            raise
        except Exception:  # the store is down: the members see their sockets close
            log.exception("live window %s could not be read", window.key)
            for sub in list(window.members):
                sub.session.close("live window could not be read")

    async def _push_counts(self, window: Window) -> None:
        """``jobs.counts`` for the filter, and per type per status (``by_type``: the queues
        view), each from the store's count table, or job by job under a callable read rule."""
        store, filter = self.store, window.filter
        if window.reader is not None:
            self._send_counts(window, await ruled_counts.count(store, filter, window.reader))
            return
        status = await store.count_by("status", filter)
        by_type: dict[str, dict[str, int]] = {}
        for name in status:
            of_status = await store.count_by("type", {"$and": [filter, {"status": name}]})
            for job_type, n in of_status.items():
                by_type.setdefault(job_type, {})[name] = n
        types = {t: sum(per.values()) for t, per in by_type.items()}
        self._send_counts(window, {"status": status, "type": types, "by_type": by_type})

    def _send_counts(self, window: Window, counts: dict[str, Any]) -> None:
        newcomers = [sub for sub in window.members if sub not in window.current]
        if counts == window.last_counts and not newcomers:
            return
        window.last_counts = counts
        body = protocol.encode(counts)
        for sub in window.members:
            sub.session.send_live(f'{{"msg":"counts","sub":{sub.sub_json},"counts":{body}}}')
        for sub in newcomers:
            sub.session.send_live(protocol.sub_marker("ready", sub.sub_json))
            window.current.add(sub)

    async def _read_rows(self, window: Window) -> list[Job]:
        """The window's rows and, if one follows, one more. With a reader, the store is read on
        in pages past the rows it refuses (``skip`` counts only rows it lets through), at most
        ``READER_SCAN`` rows a reread: a window whose rows are that rare shows what was found."""
        if window.reader is None:
            return await self.store.find(window.filter, window.sort, window.limit + 1, window.skip)
        wanted, offset = window.skip + window.limit + 1, 0
        passed: list[Job] = []
        while len(passed) < wanted and offset < ruled_counts.READER_SCAN:
            page = min(max(2 * wanted, 100), ruled_counts.READER_SCAN - offset)
            found = await self.store.find(window.filter, window.sort, page, offset)
            passed.extend(doc for doc in found if window.reader(doc))
            offset += len(found)
            if len(found) < page:
                break
        return passed[window.skip : wanted]

    async def _push_rows(self, window: Window) -> None:
        found = await self._read_rows(window)
        more, rows = len(found) > window.limit, found[: window.limit]
        frames = _diff(window.rows, rows, window.view)
        order_changed = [r["id"] for r in rows] != [r["id"] for r in window.rows]
        order = None
        if order_changed or more != window.more or not window.current.issuperset(window.members):
            ids = protocol.encode([r["id"] for r in rows])
            order = f',"ids":{ids},"more":{"true" if more else "false"}}}'
        window.rows, window.more = rows, more
        snapshot = [protocol.sub_frame_parts("added", _encoded(doc, window.view)) for doc in rows]
        for sub in window.members:
            send = sub.session.send_live
            if sub in window.current:
                for head, tail in frames:
                    send((head, sub.sub_json, tail))
            else:  # a newcomer holds nothing yet: the whole window, then ready
                for head, tail in snapshot:
                    send((head, sub.sub_json, tail))
            if order is not None:
                send(('{"msg":"order","sub":', sub.sub_json, order))
            if sub not in window.current:
                send(protocol.sub_marker("ready", sub.sub_json))
                window.current.add(sub)


def _diff(old: list[Job], new: list[Job], view: str) -> list[tuple[str, str]]:
    """The frames that turn ``old`` into ``new``: removed, then changed and added."""
    before = {doc["id"]: doc for doc in old}
    after = {doc["id"] for doc in new}
    frames = [
        protocol.sub_removed_parts(protocol.encode(job_id))
        for job_id in before
        if job_id not in after
    ]
    for doc in new:
        had = before.get(doc["id"])
        if had is None:
            frames.append(protocol.sub_frame_parts("added", _encoded(doc, view)))
        elif had.get("version") != doc.get("version"):
            frames.append(protocol.sub_frame_parts("changed", _encoded(doc, view)))
    return frames


def _encoded(doc: Job, view: str) -> str:
    return protocol.encode(project(doc, view, live=True))
