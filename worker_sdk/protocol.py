"""The SDK's half of the protocol, without I/O: encode calls, match replies to calls, route
pushes.

``connection.Connection`` is the socket around it: it sends the messages ``Calls`` hands it
and feeds back the frames it reads. Nothing here touches a socket, an event loop or a clock
(times are given), so a test feeds frames in and reads what would be sent, as with
websockets' sans-I/O protocol classes. A reply is delivered to whatever waits for it through
``set_result``/``set_exception``: an ``asyncio.Future`` in the SDK, any future in a test.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import msgspec

from livejobs_sdk import names
from livejobs_sdk.errors import CallError, LivejobsError, UnsupportedVersion
from livejobs_sdk.limits import chunks

log = logging.getLogger("livejobs.sdk")

Frame = dict[str, Any]
decode = msgspec.json.Decoder().decode
_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> str:
    return _encoder.encode(obj).decode()


PROTOCOL_VERSION = 1
"""The protocol version this SDK speaks, sent at ``auth``. The SDK imports nothing from
server/, so this is a copy of server/protocol.py's; tests/unit/test_versions.py keeps them equal."""

#: creates the server makes idempotent by ``request_id``: the SDK adds a fresh one to each
CREATES = frozenset(names.CREATES)
#: calls safe to send again when their reply was lost: creates (by request id) and reads
RETRY_SAFE = frozenset(names.RETRY_SAFE)


class Reply(Protocol):
    """What waits for a call's reply (``asyncio.Future``, ``concurrent.futures.Future``)."""

    def done(self) -> bool: ...
    def set_result(self, result: Any, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...


# -- auth ----------------------------------------------------------------------------------


def auth_frame(token: str | None, protocol: int | None) -> str:
    """The first frame on a socket; ``protocol`` None for a 0.1.0 server (see ``legacy``)."""
    params: dict[str, Any] = {"token": token or "", "batch": True}
    if protocol is not None:
        params["protocol"] = protocol
    return encode({"msg": "call", "id": 0, "method": "auth", "params": params})


def legacy(reply: Frame) -> bool:
    """Whether ``reply`` refused the ``protocol`` param: a 0.1.0 server knows no versions (and
    rejects the field); it speaks version 1, and is asked again without it."""
    error = reply.get("error") if reply.get("msg") == "error" else None
    if not isinstance(error, dict):
        return False
    return error.get("code") == "invalid" and "`protocol`" in str(error.get("message", ""))


def auth_refusal(reply: Frame, protocol: int) -> LivejobsError | None:
    """The error an ``auth`` reply stands for, or None when it authenticated."""
    if reply.get("msg") != "error":
        return None
    code, message = reply["error"]["code"], reply["error"]["message"]
    if code == UnsupportedVersion.code:
        return UnsupportedVersion(message, protocol)
    return CallError(code, message)


def max_pending(identity: Frame) -> int | None:
    """The server's ``max_pending_calls`` from an ``auth`` result, if it gives a usable one."""
    limit = identity.get("max_pending_calls")
    return limit if isinstance(limit, int) and limit > 0 else None


# -- calls ---------------------------------------------------------------------------------


def call_tail(method: str, params: dict[str, Any] | None, identity: Frame) -> str:
    """A call's frame after its id, encoded once for every send of it. A create gets a fresh
    ``request_id``, which its resends reuse (a 0.1.0 server, without ``protocol`` in its
    identity, would refuse the field)."""
    params = dict(params or {})
    if method in CREATES and "request_id" not in params and "protocol" in identity:
        params["request_id"] = uuid.uuid4().hex
    return f',"method":{encode(method)},"params":{encode(params)}}}'


def expire(reply: Reply, limit: float | None) -> None:
    if not reply.done():
        reply.set_exception(TimeoutError(f"no reply from the server within {limit}s"))


class Calls:
    """The calls of one session: those waiting to be sent, those waiting for a reply, and the
    handlers of pushed frames (frames without a call id, by their ``msg``)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.pending: dict[int, Reply] = {}
        #: (call id, frame) of calls not sent yet
        self.outbox: list[tuple[int, str]] = []
        #: call id -> (deadline, limit) of calls under the default deadline (``expire_due``)
        self.due: dict[int, tuple[float, float | None]] = {}
        self.on_push: dict[str, Callable[[Frame], None]] = {}

    def add(self, tail: str, reply: Reply) -> int:
        """Queue one send of a call (see ``call_tail``) under a new id: a resend gets a new
        id, so a late reply to a lost send could never be taken for its own."""
        call_id = next(self._ids)
        self.pending[call_id] = reply
        self.outbox.append((call_id, f'{{"msg":"call","id":{call_id}{tail}'))
        return call_id

    def forget(self, call_id: int) -> None:
        self.pending.pop(call_id, None)
        self.due.pop(call_id, None)

    def messages(self) -> list[tuple[str, list[int]]]:
        """The queued calls as messages within the server's limits (a message it refused
        whole would leave every call in it unanswered), each with the ids it carries."""
        batch, self.outbox = self.outbox, []
        out = []
        for chunk in chunks(batch):
            ids = [call_id for call_id, _ in chunk]
            message = chunk[0][1] if len(chunk) == 1 else "[" + ",".join(f for _, f in chunk) + "]"
            out.append((message, ids))
        return out

    def receive(self, raw: str | bytes) -> None:
        """One message from the server: a frame, or a JSON array of frames (auth with batch)."""
        message = decode(raw)
        for frame in message if isinstance(message, list) else [message]:
            self.receive_frame(frame)

    def receive_frame(self, frame: Frame) -> None:
        kind = frame.get("msg")
        if kind in ("result", "error") and frame.get("id") is not None:
            reply = self.pending.pop(frame["id"], None)
            if reply is None or reply.done():
                return
            if kind == "result":
                reply.set_result(frame.get("result"))
            else:
                reply.set_exception(CallError(frame["error"]["code"], frame["error"]["message"]))
            return
        handler = self.on_push.get(str(kind))
        if handler is not None:
            handler(frame)
        elif kind == "error":
            log.warning("server error: %s", frame.get("error"))

    def fail(self, ids: Iterable[int], error: Callable[[], BaseException]) -> None:
        """The calls ``ids`` get ``error()`` instead of a reply."""
        for call_id in ids:
            reply = self.pending.pop(call_id, None)
            if reply is not None and not reply.done():
                reply.set_exception(error())

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        """Every call fails; the unsent ones must not reach the next connection."""
        self.outbox = []
        self.fail(list(self.pending), error)

    def expire_due(self, now: float) -> None:
        """Fail the calls past their default deadline."""
        for call_id, (deadline, limit) in list(self.due.items()):
            if deadline <= now:
                del self.due[call_id]
                reply = self.pending.get(call_id)
                if reply is not None:
                    expire(reply, limit)
