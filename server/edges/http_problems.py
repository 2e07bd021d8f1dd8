"""HTTP errors as RFC 9457 problem details (``application/problem+json``).

Every error the HTTP edge answers, from a method, the body reader, the version check or
Starlette's own routing, goes through ``problem`` so that clients parse one shape. ``type`` is
``about:blank`` (RFC 9457 4.2.1: the status says what happened, ``title`` is its phrase); the
machine-readable cause is our ``code``, the same code a WebSocket error frame carries.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from starlette.responses import Response

from livejobs.errors import LivejobsError

MEDIA_TYPE = "application/problem+json"

#: every ``code`` an HTTP answer may carry (livejobs.errors' classes, plus the two below)
CODES = (
    "invalid",
    "unsupported_version",
    "unauthenticated",
    "forbidden",
    "not_found",
    "conflict",
    "too_large",
    "rate_limited",
    "unavailable",
    "internal",
)


class Problem(Struct, kw_only=True):
    """An RFC 9457 problem details object, with our stable ``code`` as an extension member."""

    #: ``about:blank``: the status code alone says what kind of problem this is
    type: str = "about:blank"
    #: the status code's phrase (RFC 9457 asks this of ``about:blank``)
    title: str
    status: Annotated[int, Meta(ge=400, le=599)]
    #: what went wrong with this request, for a person to read
    detail: str
    #: the stable, machine-readable cause (the WebSocket error frame's ``code``)
    code: str


def problem(code: str, detail: str, status: int, headers: dict[str, str] | None = None) -> Response:
    title = HTTPStatus(status).phrase
    body = Problem(title=title, status=status, detail=detail, code=code)
    return Response(
        msgspec.json.encode(body), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def from_error(exc: LivejobsError) -> Response:
    return problem(exc.code, exc.message, exc.http_status)


def internal() -> Response:
    return problem("internal", "internal server error; the call may not have happened", 500)
