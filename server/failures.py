"""A job's stored failure as text a person reads: the one rendering the CLI and worker logs use.

The SDK records a handler's exception as ``{"message", "type", "traceback"}`` (the traceback as
Python formats it, ending with ``Type: message``); the server records its own failures ("worker
lost") as plain strings; a curl worker may send any JSON. The dashboard gets the same fields over
the protocol and lays them out the same way (web/js/detail.js): type and message, then the
traceback as preformatted text.
"""

from __future__ import annotations

import json
import traceback
from typing import Any


def render_failure(error: Any) -> str:
    """``error`` as stored in ``failures[i].error``, rendered as a traceback when it has one."""
    if isinstance(error, str):
        return error
    if not isinstance(error, dict):
        return json.dumps(error)
    kind, message = error.get("type"), error.get("message")
    headline = f"{kind}: {message}" if kind and message else str(message or kind or "")
    trace = error.get("traceback")
    others = {k: v for k, v in error.items() if k not in ("type", "message", "traceback")}
    lines = []
    if isinstance(trace, str) and trace.strip():
        lines.append(trace.rstrip("\n"))
        if headline and headline not in trace:  # not every sender ends it so
            lines.append(headline)
    elif headline:
        lines.append(headline)
    if others:
        lines.append(json.dumps(others, indent=2, default=str))
    return "\n".join(lines)


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as the SDK stores it (livejobs_sdk cannot import this module; same shape)."""
    return {
        "message": str(exc) or type(exc).__name__,
        "type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }
