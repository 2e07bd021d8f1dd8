"""Live queries as the SDK shows them: ``Subscription`` (a filter's jobs, a live window of
them, or live counts) and the ``Event`` each frame becomes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livejobs_sdk.connection import Connection, Frame
from livejobs_sdk.errors import ConnectionLost


@dataclass(frozen=True, slots=True)
class Event:
    """One live event: ``kind`` is added, changed, removed, ready or reset; for a window also
    ``order`` (``ids``: the window's jobs in order), for a count feed ``counts``."""

    kind: str
    doc: dict[str, Any] | None = None
    id: str | None = None
    ids: list[str] | None = None
    counts: dict[str, Any] | None = None


#: queued by ``Subscription.close``: the iteration ends there
_END = Event("end")


class Subscription:
    """Live results of a filter: ``async for event in sub`` and ``sub.docs`` (id → doc).

    Survives reconnects: after one, a ``reset`` event is followed by a fresh snapshot.
    With ``limit`` it is a live window (``order``/``rows``: its jobs in ``sort`` order, ``more``:
    whether more match beyond it); with ``counts`` a live count feed (``counts``).
    """

    def __init__(
        self,
        conn: Connection,
        attach: Callable[[Subscription], None],
        detach: Callable[[Subscription], None],
        filter: dict[str, Any] | None,
        window: dict[str, Any] | None = None,
    ) -> None:
        self._conn = conn
        #: the client's routing of this subscription's frames, on and off
        self._attach, self._detach = attach, detach
        self.filter = filter or {}
        self.window = window or {}
        self.sub_id: str | None = None
        self.docs: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.more = False
        self.counts: dict[str, Any] = {}
        self.ready = asyncio.Event()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._closed = False
        self._opening: asyncio.Future[None] | None = None

    async def start(self) -> Subscription:
        """Open it on the server, once however many tasks start it at the same time."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except BaseException:
            if self._opening.done() and self.sub_id is None:
                self._opening = None  # it failed: the next start tries again
            raise
        if self._reopen not in self._conn.on_reconnect and not self._closed:
            self._conn.on_reconnect.append(self._reopen)
        return self

    async def _open(self) -> None:
        params = {"filter": self.filter, **self.window}
        # sent again if its reply is lost with the connection: the server's subscription
        # died with that connection, so this cannot open it twice
        result = await self._conn.call("subscribe", params, retry=True)
        self.sub_id = result["sub"]
        self._attach(self)

    async def _reopen(self) -> None:
        if self._closed:
            return
        self._detach(self)
        self.docs.clear()
        self.order = []
        self.ready.clear()
        self._events.put_nowait(Event("reset"))
        await self._open()

    def _on_frame(self, frame: Frame) -> None:
        kind = frame["msg"]
        if kind in ("added", "changed"):
            doc = frame["doc"]
            self.docs[doc["id"]] = doc
            event = Event(kind, doc, doc["id"])
        elif kind == "removed":
            event = Event(kind, self.docs.pop(frame["id"], None), frame["id"])
        elif kind == "ready":
            self.ready.set()
            event = Event(kind)
        elif kind == "order":
            self.order, self.more = frame["ids"], frame["more"]
            event = Event(kind, ids=self.order)
        elif kind == "counts":
            self.counts = frame["counts"]
            event = Event(kind, counts=self.counts)
            self.ready.set()
        else:  # reset from the server: a fresh snapshot follows
            self.docs.clear()
            self.ready.clear()
            event = Event(kind)
        self._events.put_nowait(event)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """A window's jobs in its order (``docs`` in ``order``)."""
        return [self.docs[i] for i in self.order if i in self.docs]

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if not self._closed:
            await self.start()
        elif self._events.empty():
            raise StopAsyncIteration
        if not self._events.empty():
            event = self._events.get_nowait()
        else:
            try:  # no event will come once the client is closed or its server lost for good
                event = await self._conn.unless_down(self._events.get())
            except ConnectionLost:
                if self._closed:
                    raise StopAsyncIteration from None
                raise
        if event is _END:
            self._events.put_nowait(_END)  # for every other iteration of it
            raise StopAsyncIteration
        return event

    async def next(self, timeout: float | None = None) -> Event:
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._events.put_nowait(_END)  # ends an iteration waiting for the next event
        conn = self._conn
        if self._reopen in conn.on_reconnect:
            conn.on_reconnect.remove(self._reopen)
        self._detach(self)
        if self.sub_id is not None and conn.connected:
            try:
                await conn.call("unsubscribe", {"sub": self.sub_id}, timeout=5)
            except (ConnectionLost, TimeoutError):
                pass
            except Exception:  # already gone on the server: nothing to undo
                pass

    async def __aenter__(self) -> Subscription:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def window_params(sort: Any, limit: int | None, skip: int, counts: bool) -> dict[str, Any]:
    """``subscribe``'s params for a live window or a count feed (none for a plain query)."""
    params: dict[str, Any] = {}
    if sort is not None:
        params["sort"] = [list(pair) for pair in sort] if isinstance(sort, list) else sort
    if limit is not None:
        params["limit"] = limit
    if skip:
        params["skip"] = skip
    if counts:
        params["counts"] = True
    return params
