"""One exception root with a stable ``code`` per class.

Both edges (WebSocket and HTTP) turn these into ``{"code", "message"}`` in one place; anything
else that escapes a method is a bug and is reported as ``internal`` without details.
"""

from __future__ import annotations


class LivejobsError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class Invalid(LivejobsError):
    code = "invalid"
    http_status = 400


class NotFound(LivejobsError):
    code = "not_found"
    http_status = 404


class Conflict(LivejobsError):
    """The job was not in a state that allows the call (or another call won the race)."""

    code = "conflict"
    http_status = 409


class UnsupportedVersion(LivejobsError):
    """The client asked for a protocol version this server does not speak."""

    code = "unsupported_version"
    http_status = 400


class Forbidden(LivejobsError):
    code = "forbidden"
    http_status = 403


class Unauthenticated(LivejobsError):
    code = "unauthenticated"
    http_status = 401


class TooLarge(LivejobsError):
    code = "too_large"
    http_status = 413


class RateLimited(LivejobsError):
    code = "rate_limited"
    http_status = 429


class Unavailable(LivejobsError):
    """The store cannot take the call right now (disk full, read-only, unreachable)."""

    code = "unavailable"
    http_status = 503


class StoreRefused(Unavailable):
    """Raised by a backend at start-up when it cannot serve (e.g. Mongo without a replica set)."""
