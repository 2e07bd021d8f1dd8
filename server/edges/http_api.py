"""The HTTP edge: REST-shaped routes onto the same method table, for clients without WebSockets.

Every request is authenticated with ``Authorization: Bearer <token>`` and becomes one call of
``methods.dispatch_call``. One shape for every route: a success is ``{"result": ...}``, the
WebSocket result frame's value; an error is an RFC 9457 problem (``livejobs.edges.http_problems``).
A job route's path names the job: its body never carries the ``id``. The routes are listed
in /openapi.json (``livejobs.edges.http_openapi``).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livejobs import protocol
from livejobs.auth import Identity
from livejobs.edges.http_openapi import JOB_ACTIONS, openapi
from livejobs.edges.http_problems import from_error, internal, problem
from livejobs.errors import Invalid, LivejobsError, NotFound, TooLarge, UnsupportedVersion
from livejobs.methods import Services, dispatch_call
from livejobs.state import state_of

log = logging.getLogger("livejobs.http")

_encode = msgspec.json.Encoder().encode


class ProtocolHeader:
    """Every HTTP answer says the protocol version (``Livejobs-Protocol: 1``); a request that
    names a version this server does not speak gets ``unsupported_version`` instead of a
    guess. Plain ASGI (no per-request objects) so the hot create and claim routes pay little."""

    _name = protocol.PROTOCOL_HEADER.lower().encode()
    _value = str(protocol.PROTOCOL_VERSION).encode()
    _spoken = {str(v).encode() for v in protocol.SUPPORTED_PROTOCOLS}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == self._name and value.strip() not in self._spoken:
                asked = value.decode("latin-1")[:20]
                spoken = ", ".join(v.decode() for v in sorted(self._spoken))
                exc = UnsupportedVersion(
                    f"protocol version {asked!r} is not supported; this server speaks {spoken}"
                )
                await from_error(exc)(scope, receive, self._stamped(send))
                return
        await self.app(scope, receive, self._stamped(send))

    def _stamped(self, send: Send) -> Send:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (self._name, self._value)]
            await send(message)

        return stamped


async def routing_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers as problems too, not plain text."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "invalid"}.get(status, "invalid" if status < 500 else "internal")
    detail = getattr(exc, "detail", None) or "error"
    headers = getattr(exc, "headers", None)
    return problem(code, f"{detail}: {request.method} {request.url.path}", status, headers)


async def _body(request: Request, limit: int) -> dict[str, Any]:
    """The JSON body, read as it streams in and refused (``too_large``) the moment it passes
    ``limit``, or at once when its Content-Length says it will: never buffered whole first.
    Every route's body is an object (empty: no params); ``null`` is not taken for one."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over {limit} bytes, the limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        return {}
    try:
        params = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise Invalid(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise Invalid("body is nested too deeply") from None
    if not isinstance(params, dict):
        raise Invalid("body must be a JSON object")
    return params


async def _identity(request: Request) -> Identity:
    """Who is calling, from ``Authorization: Bearer``: checked before any body is read."""
    services: Services = state_of(request.app).services
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    client = request.client
    return await services.auth.authenticate(
        token.strip() if scheme.lower() == "bearer" else None, client.host if client else ""
    )


async def _call(
    request: Request,
    method: str,
    params: Any,
    status: int = 200,
    identity: Identity | None = None,
) -> Response:
    """One call through the method table, answered as ``{"result": ...}`` or a problem."""
    services: Services = state_of(request.app).services
    if protocol.too_deep(params):
        return from_error(Invalid(f"the body is nested deeper than {protocol.MAX_DEPTH} levels"))
    try:
        identity = identity or await _identity(request)
        result = await dispatch_call(services, identity, method, params, None)
    except LivejobsError as exc:
        return from_error(exc)
    except Exception:
        log.exception("HTTP %s failed", method)
        return internal()
    return Response(_encode({"result": result}), status, media_type="application/json")


def _limit(request: Request) -> int:
    return int(state_of(request.app).services.settings.max_frame_bytes)


async def _with_body(
    request: Request, method: str, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """Authenticate, read the body (a JSON object), add ``extra`` (the path's job id, the
    Idempotency-Key, which replaces a ``request_id`` in the body), call. A body naming another
    job than the path is refused rather than silently overridden."""
    try:
        identity = await _identity(request)
        params = await _body(request, _limit(request))
        if extra:
            _check_not_given(params, extra)
            params = {**params, **extra}
    except LivejobsError as exc:
        return from_error(exc)
    return await _call(request, method, params, status, identity)


def _check_not_given(params: dict[str, Any], extra: dict[str, Any]) -> None:
    if (
        "request_id" in extra
        and params.get("request_id", extra["request_id"]) != extra["request_id"]
    ):
        raise Invalid("the Idempotency-Key header and the body's request_id differ: give one")
    if "id" in extra and ("id" in params or "ids" in params):
        raise Invalid(
            "the path names the job: leave 'id' out of the body "
            "(for many jobs, POST /api/call/<method> with 'ids')"
        )


def _request_id(request: Request) -> dict[str, Any] | None:
    """The standard ``Idempotency-Key`` header is the create's ``request_id``."""
    key = request.headers.get("idempotency-key")
    return None if key is None else {"request_id": key}


async def create_job(request: Request) -> Response:
    return await _with_body(request, "jobs.create", _request_id(request), status=201)


async def create_batch(request: Request) -> Response:
    return await _with_body(request, "jobs.create_many", _request_id(request), status=201)


async def list_jobs(request: Request) -> Response:
    query = request.query_params
    params: dict[str, Any] = {}
    try:
        for name in ("filter", "sort"):
            if query.get(name):  # empty: as if not given
                params[name] = msgspec.json.decode(query[name])
        for name in ("limit", "skip"):
            if query.get(name):
                params[name] = int(query[name])
    except (msgspec.DecodeError, ValueError, RecursionError):
        return from_error(Invalid("filter and sort must be JSON; limit and skip integers"))
    return await _call(request, "jobs.find", params)


async def get_job(request: Request) -> Response:
    return await _call(request, "jobs.get", {"id": request.path_params["id"]})


async def job_action(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in JOB_ACTIONS:
        actions = ", ".join(JOB_ACTIONS)
        return from_error(NotFound(f"no job action {action!r}; the actions are {actions}"))
    return await _with_body(request, f"jobs.{action}", {"id": request.path_params["id"]})


async def claim(request: Request) -> Response:
    return await _with_body(request, "jobs.claim")


async def any_method(request: Request) -> Response:
    try:
        identity = await _identity(request)
        params = await _body(request, _limit(request))
    except LivejobsError as exc:
        return from_error(exc)
    return await _call(request, request.path_params["method"], params, identity=identity)


async def openapi_route(request: Request) -> Response:
    return Response(_encode(openapi()), media_type="application/json")


async def jobs(request: Request) -> Response:
    """One route for both verbs, so that a 405 on /api/jobs lists both in ``Allow``."""
    return await (list_jobs(request) if request.method in ("GET", "HEAD") else create_job(request))


routes = [
    Route("/jobs", jobs, methods=["GET", "POST"]),
    Route("/jobs/batch", create_batch, methods=["POST"]),
    Route("/jobs/{id}", get_job, methods=["GET"]),
    Route("/jobs/{id}/{action}", job_action, methods=["POST"]),
    Route("/claim", claim, methods=["POST"]),
    Route("/call/{method:path}", any_method, methods=["POST"]),
]
