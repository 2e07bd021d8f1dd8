"""The one logging setup of every ``livejobs`` command: one line per event, as text for people or
JSON for machines.

Lines about a job, a worker or a user carry them as fields (``log.info(..., extra=context(...))``),
so a JSON log can be searched by ``job_id`` without parsing messages. Tokens and job data are
never passed to a logger anywhere in livejobs; this module only shapes the lines.

The JSON formatter stays our own ~20 lines: python-json-logger would be one more dependency for
the same ``json.dumps`` of a record's fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from livejobs.untrusted import shown

#: the fields a line may carry besides its message, in this order
FIELDS = ("job_id", "type", "worker", "user")

#: what the websockets library says about every connection, on top of uvicorn's own
#: '"WebSocket /ws" [accepted]' line: at INFO that is three lines per connection
CONNECTION_CHATTER = frozenset({"connection open", "connection closed"})


def context(
    job_id: str | None = None,
    type: str | None = None,
    worker: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """``extra=`` for a log call, leaving out what does not apply."""
    given = {"job_id": job_id, "type": type, "worker": worker, "user": user}
    return {name: value for name, value in given.items() if value is not None}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the context fields after the message as ``name=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # one record, one line: a client's worker id or job type in it may hold a newline or
        # a terminal's escape sequence (the JSON lines escape them as JSON does)
        line = shown(super().formatMessage(record))
        fields = _fields(record)
        return line + "".join(f" {k}={shown(v)}" for k, v in fields.items()) if fields else line

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return shown(super().formatException(ei), lines=True)


class QuietConnections(logging.Filter):
    """Demote the per-connection "connection open/closed" lines to DEBUG: uvicorn's accepted
    line already says who connected, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.msg in CONNECTION_CHATTER:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Root handler on stderr in ``fmt``; ``level`` and ``fmt`` come validated from settings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(QuietConnections())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_access_log(level)


def quiet_access_log(level: str) -> None:
    """Request lines carry query strings, which may hold job data in filters: they stay out
    unless debugging. (uvicorn.Config resets its loggers' levels, so serve calls this again.)"""
    if level.lower() != "debug":
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
