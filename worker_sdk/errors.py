"""Errors the SDK raises. ``CallError.code`` is the server's stable error code."""

from __future__ import annotations

from typing import Any


class LivejobsError(Exception):
    """Root of every error raised by the SDK."""


class CallError(LivejobsError):
    """The server refused or failed a call: ``code`` is one of invalid, not_found, conflict,
    forbidden, unauthenticated, too_large, rate_limited, unavailable, internal,
    unsupported_version."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class UnsupportedVersion(CallError):
    """The server does not speak this SDK's protocol version: upgrade one or the other.
    ``protocol`` is the version the SDK asked for; the message names the server's."""

    code = "unsupported_version"

    def __init__(self, message: str, protocol: int) -> None:
        super().__init__(self.code, message)
        self.protocol = protocol


class ConnectionLost(LivejobsError):
    """The socket closed before the call was answered; it may or may not have happened."""


class ClientClosed(ConnectionLost, RuntimeError):
    """A call on a ``SyncClient`` after ``close()``: ``ConnectionLost``, as the async client
    raises, and a ``RuntimeError``, as the sync client raised before."""


class JobFailed(LivejobsError):
    """Awaited a job's result, but the job failed or was cancelled."""

    def __init__(self, doc: dict[str, Any]) -> None:
        super().__init__(f"job {doc['id']} {doc['status']}: {doc.get('reason')}")
        self.doc = doc
        self.status = doc["status"]
        self.reason = doc.get("reason")


class Fatal(Exception):  # noqa: N818 - reads as "raise Fatal(...)" in handlers
    """Raise in a handler to fail the job without retrying it."""


class Snooze(Exception):  # noqa: N818
    """Raise in a handler to put the job back for ``seconds`` without counting an attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"snooze {seconds}s")
        self.seconds = seconds
