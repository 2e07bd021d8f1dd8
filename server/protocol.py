"""The WebSocket protocol as data: decoding client frames and encoding server frames.

Sans-I/O: no sockets here, so the protocol is testable by feeding strings. The SDK and the
dashboard speak the same message shapes, documented in docs/protocol.md.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from livejobs.errors import Invalid, LivejobsError, TooLarge, UnsupportedVersion

if TYPE_CHECKING:
    from livejobs.runs import RunView

PROTOCOL_VERSION = 1
"""The protocol this server speaks: an integer raised only by a change an existing client
would notice (a frame, method or field removed or changing meaning). Additions (a new method, an
optional param, a new field in a result) keep the number; docs/protocol.md "Versions" lists
both. The SDK keeps its own copy (worker_sdk/connection.py); a unit test keeps them equal."""

SUPPORTED_PROTOCOLS = (1,)
"""Every version a client may ask for at ``auth``; the newest is ``PROTOCOL_VERSION``."""

PROTOCOL_HEADER = "Livejobs-Protocol"
"""HTTP header: every HTTP answer carries ``PROTOCOL_VERSION``; a request may send it."""


def _api_version() -> str:
    try:
        return _package_version("livejobs")
    except PackageNotFoundError:  # run from a checkout without installing
        return "0+unknown"


API_VERSION = _api_version()
"""The release (pyproject's version): ``info.version`` of /openapi.json."""


def check_protocol(asked: int | None) -> int:
    """The version a client gets: the one it asked for, or ours when it asked for none."""
    if asked is None:
        return PROTOCOL_VERSION
    if asked not in SUPPORTED_PROTOCOLS:
        spoken = ", ".join(str(v) for v in SUPPORTED_PROTOCOLS)
        raise UnsupportedVersion(
            f"protocol version {asked} is not supported; this server speaks {spoken}"
        )
    return asked


_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

MAX_DEPTH = 32
_LEADING_ID = re.compile(r'\s*\{[^{}\[\]]*?"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,100}")')


class Call(NamedTuple):
    id: Any
    method: str
    params: Any


def encode(obj: Any) -> str:
    return _encoder.encode(obj).decode()


MAX_CALLS_PER_MESSAGE = 1000
"""Calls one client message may carry as a JSON array."""


def decode_call(frame: str | bytes, max_bytes: int) -> Call:
    """Turn one client frame into a ``Call`` or raise a protocol error."""
    return to_call(_decode_message(frame, max_bytes))


def decode_message(message: str | bytes, max_bytes: int) -> list[Any]:
    """The frames of one client message: a call frame, or a JSON array of them (a client
    sending many calls at once pays for one message). Each still goes through ``to_call``."""
    decoded = _decode_message(message, max_bytes)
    if not isinstance(decoded, list):
        return [decoded]
    if not decoded:
        raise Invalid("an array message must hold at least one call frame")
    if len(decoded) > MAX_CALLS_PER_MESSAGE:
        raise Invalid(f"a message holds at most {MAX_CALLS_PER_MESSAGE} call frames")
    return decoded


def _decode_message(message: str | bytes, max_bytes: int) -> Any:
    if len(message) > max_bytes:
        raise TooLarge(f"frame is {len(message)} bytes; the limit is {max_bytes}")
    try:
        return _decoder.decode(message)
    except msgspec.DecodeError as exc:
        raise Invalid(f"frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise Invalid(f"frame is nested deeper than {MAX_DEPTH} levels") from None


def to_call(message: Any) -> Call:
    """A decoded frame as a ``Call``, or a protocol error saying what is wrong with it."""
    if not isinstance(message, dict):
        raise Invalid("a frame must be a JSON object")
    if message.get("msg") != "call":
        raise Invalid('unknown frame; expected {"msg": "call", "id", "method", "params"}')
    call_id = message.get("id")
    if not isinstance(call_id, str | int) or isinstance(call_id, bool):
        raise Invalid("a call needs an 'id' (string or integer)")
    if isinstance(call_id, str) and len(call_id) > 100:
        raise Invalid("call id is too long")
    method = message.get("method")
    if not isinstance(method, str) or len(method) > 100:
        raise Invalid("a call needs a 'method' name")
    params = message.get("params", {})
    if too_deep(params):
        raise Invalid(f"params are nested deeper than {MAX_DEPTH} levels")
    return Call(call_id, method, params)


def call_id_of(frame: str | bytes) -> Any:
    """Best effort: the id of a frame that failed validation, so the error can carry it."""
    try:
        message = _decoder.decode(frame)
    except RecursionError:  # too deep to decode: look for an id before any nesting
        head = _LEADING_ID.match(
            frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        )
        return _decoder.decode(head.group(1)) if head else None
    except msgspec.DecodeError:
        return None
    return id_in(message)


def id_in(message: Any) -> Any:
    """The call id of a decoded frame, if it has a usable one."""
    call_id = message.get("id") if isinstance(message, dict) else None
    return call_id if isinstance(call_id, str | int) and not isinstance(call_id, bool) else None


def too_deep(value: Any, depth: int = 0) -> bool:
    """Whether containers nest deeper than ``MAX_DEPTH``. Every call's params pass through
    here, a batch create's thousands of job specs included: one level at a time, without a
    call or generator per container (half the time of walking it recursively)."""
    if depth > MAX_DEPTH:
        return True
    level = [value] if isinstance(value, dict | list) else []
    while level:
        if depth == MAX_DEPTH:
            return any(level)  # a non-empty container here holds something one level too deep
        below: list[Any] = []
        add = below.append
        for container in level:
            for item in container.values() if isinstance(container, dict) else container:
                if isinstance(item, dict | list):
                    add(item)
        level = below
        depth += 1
    return False


def result(call_id: Any, value: Any) -> str:
    return encode({"msg": "result", "id": call_id, "result": value})


def error(call_id: Any, exc: LivejobsError) -> str:
    return encode({"msg": "error", "id": call_id, "error": exc.to_dict()})


def internal_error(call_id: Any) -> str:
    return encode(
        {
            "msg": "error",
            "id": call_id,
            "error": {
                "code": "internal",
                "message": "internal server error; the call may not have happened",
            },
        }
    )


Frame = str | tuple[str, ...]
"""A frame to send: a string, or string pieces the writer joins (shared pieces cost no copy)."""


def sub_frame_parts(kind: str, doc_json: str) -> tuple[str, str]:
    """``added``/``changed`` around a document encoded once for every subscriber: the frame is
    ``head + sub_json + tail``."""
    return f'{{"msg":"{kind}","sub":', f',"doc":{doc_json}}}'


def sub_frame(kind: str, sub_json: str, doc_json: str) -> tuple[str, str, str]:
    head, tail = sub_frame_parts(kind, doc_json)
    return head, sub_json, tail


def sub_removed_parts(id_json: str) -> tuple[str, str]:
    return '{"msg":"removed","sub":', f',"id":{id_json}}}'


def sub_marker(kind: str, sub_json: str) -> str:
    """``ready`` or ``reset``."""
    return f'{{"msg":"{kind}","sub":{sub_json}}}'


def join(frames: list[Frame | RunView]) -> str:
    """One WebSocket message: a single frame, or a JSON array of several (batching clients).
    A shared run (``livejobs.runs``) is several frames already joined by commas."""
    if len(frames) == 1:
        frame = frames[0]
        if isinstance(frame, str):
            return frame
        if isinstance(frame, tuple):
            return "".join(frame)
        return frame.render() if len(frame) == 1 else f"[{frame.render()}]"
    pieces = ["["]
    for frame in frames:
        if isinstance(frame, str):
            pieces.append(frame)
        elif isinstance(frame, tuple):
            pieces.extend(frame)
        else:
            pieces.append(frame.render())
        pieces.append(",")
    pieces[-1] = "]"
    return "".join(pieces)


def types_pushed(rules: list[dict[str, Any]]) -> str:
    return encode({"msg": "types", "types": rules})


def job_pushed(doc: dict[str, Any]) -> str:
    return encode({"msg": "job", "job": doc})


def cancel_pushed(job_id: str) -> str:
    return encode({"msg": "cancel", "id": job_id})


def server_pushed(state: str) -> str:
    """The server's own state, pushed to every session when it changes ("draining")."""
    return encode({"msg": "server", "state": state})
