"""A bare client of the livejobs WebSocket protocol (docs/protocol.md) for the fan-out load.

Everything else in the bench uses the SDK, as applications do. A thousand SDK subscriptions in
one process would each parse every frame and keep a copy of every document (ten million dicts);
the load generator must stay cheaper than the server it loads, so pushed messages are handed
over as raw text and the caller decides what to parse. With ``batch=True`` (what the SDK asks
for) a message may be a JSON array of frames.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class CallFailed(Exception):
    """The server answered a call with an error frame."""


class Wire:
    """One authenticated connection. Pushed messages (not call results) go to ``on_push``."""

    def __init__(self, ws: ClientConnection, on_push: Callable[[str], None] | None) -> None:
        self.ws = ws
        self.on_push = on_push
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls, url: str, token: str, on_push: Callable[[str], None] | None = None,
        batch: bool = False,
    ) -> Wire:
        ws = await connect(url, max_size=None, open_timeout=30, ping_interval=None)
        wire = cls(ws, on_push)
        await wire.call("auth", {"token": token, "batch": batch})
        return wire

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        call_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[call_id] = future
        await self.ws.send(json.dumps({"msg": "call", "id": call_id, "method": method,
                                       "params": params}))
        return await future

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        async for data in self.ws:
            frame = data if isinstance(data, str) else data.decode()
            # a subscriber has no call pending most of the time: pushes then pass unparsed
            if self.pending:
                message = json.loads(frame)
                frames = message if isinstance(message, list) else [message]
                replies = [f for f in frames if f.get("msg") in ("result", "error")]
                for reply in replies:
                    self._settle(reply)
                if len(replies) == len(frames):
                    continue
            if self.on_push is not None:
                self.on_push(frame)

    def _settle(self, message: dict[str, Any]) -> None:
        future = self.pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if future is None or future.done():
            return
        if message["msg"] == "result":
            future.set_result(message["result"])
        else:
            future.set_exception(CallFailed(message["error"]))
