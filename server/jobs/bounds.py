"""How large a job document may grow: caps on what ``log`` and ``fail`` add to it. No I/O.

A job's data, private data and result are refused past ``max_data_bytes`` when they are given;
what accumulates over the job's life (log entries, failures) is cut here instead, so that a
worker looping on ``log`` or failing with a huge traceback leaves a document of bounded size,
whatever the store. A cut says so in the document: a marker at the end of a shortened text, a
note entry counting the log entries dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from livejobs.jobs.model import Job

#: log entries a job keeps by default (``max_log_entries``)
MAX_LOG_ENTRIES = 1000
#: failures a job keeps (the newest), each with its error cut to ``error_bytes``
MAX_FAILURES = 20
#: a job's W3C trace context (``trace``), refused past these: a ``traceparent`` is 55
#: characters today (room for a future version's extra fields), and 512 characters of
#: ``tracestate`` is what the W3C recommendation asks every vendor to pass on
TRACEPARENT_CHARS = 128
TRACESTATE_CHARS = 512

_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class DocLimits:
    """The caps; ``livejobs.settings`` holds their defaults and names (``max_log_entries``...)."""

    #: entries a log keeps: the creation entry, a note of how many were dropped, the newest
    log_entries: int = MAX_LOG_ENTRIES
    #: bytes of one entry's message plus its data
    log_entry_bytes: int = 2048
    #: bytes of one failure's error (its message and traceback)
    error_bytes: int = 8192


def clip_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with a marker saying how much went.
    (Characters, not bytes: a document's encoded size is at most four times this.)"""
    if len(text) <= limit:
        return text
    marker = f"… [truncated {{}} of {len(text)} characters]"
    keep = max(limit - len(marker) - 8, 0)
    return text[:keep] + marker.format(len(text) - keep)


def clip_entry(message: str, data: Any, limit: int) -> tuple[str, Any]:
    """A log entry's message and data within ``limit``: data that does not fit beside the
    message is replaced by a string saying its size; the message is cut to what is left."""
    size = 0 if data is None else len(_encode(data))
    if size > limit // 2 and size + len(message) > limit:
        data = f"[data dropped: {size} bytes; a log entry holds at most {limit}]"
        size = len(data)
    return clip_text(message, max(limit - size, limit // 2)), data


def clip_error(error: Any, limit: int) -> Any:
    """A failure's error within ``limit``: the strings of the SDK's ``{message, type,
    traceback}`` are cut (the traceback keeps its end, where the exception is); anything else
    too large becomes its cut JSON text."""
    if isinstance(error, str):
        return clip_text(error, limit)
    if len(_encode(error)) <= limit:
        return error
    if isinstance(error, dict) and set(error) <= {"message", "type", "traceback"}:
        out = dict(error)
        share = limit // 3
        for name in ("message", "type"):
            if isinstance(out.get(name), str):
                out[name] = clip_text(out[name], share)
        trace = out.get("traceback")
        if isinstance(trace, str) and len(trace) > share:
            dropped = len(trace) - share + 40
            out["traceback"] = f"[… {dropped} characters truncated]\n" + trace[dropped:]
        if len(_encode(out)) <= limit:
            return out
    return clip_text(_encode(error).decode(), limit)


def append_log(
    doc: Job,
    *,
    now: float,
    by: str,
    message: str,
    level: str = "info",
    data: Any = None,
    kind: str = "audit",
    keep: int = MAX_LOG_ENTRIES,
) -> None:
    """Append in place, keeping the newest ``keep`` (the first entry, creation, stays, and a
    note counts the entries dropped: ``bounds.trim_log``).

    ``kind`` is ``audit`` for the server's record of a transition, ``log`` for a message
    someone wrote with ``jobs.log``."""
    doc["log"].append(
        {"time": now, "level": level, "message": message, "data": data, "by": by, "kind": kind}
    )
    trim_log(doc["log"], keep, now)


def trim_log(log: list[dict[str, Any]], keep: int, now: float) -> None:
    """Keep at most ``keep`` entries, in place: the first (creation), a note counting every
    entry dropped so far (it replaces an earlier note), and the newest."""
    if len(log) <= keep:
        return
    dropped = 0
    if len(log) > 1 and _is_note(log[1]):
        dropped = int(log[1]["data"]["dropped"])
        del log[1]
    excess = len(log) - (keep - 1)
    dropped += excess
    del log[1 : 1 + excess]
    log.insert(1, note(dropped, now))


def note(dropped: int, now: float) -> dict[str, Any]:
    return {
        "time": now,
        "level": "warning",
        "message": f"{dropped} older log entries dropped (a job keeps its newest)",
        "data": {"dropped": dropped},
        "by": "server",
        "kind": "audit",
    }


def _is_note(entry: dict[str, Any]) -> bool:
    data = entry.get("data")
    return entry.get("by") == "server" and isinstance(data, dict) and "dropped" in data


def trim_failures(failures: list[dict[str, Any]]) -> None:
    """Keep the newest ``MAX_FAILURES`` failures, in place."""
    if len(failures) > MAX_FAILURES:
        del failures[: len(failures) - MAX_FAILURES]
