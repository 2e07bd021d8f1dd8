"""The HTTP edge: REST-shaped routes onto the same method table, for clients without WebSockets.

Every request is authenticated with ``Authorization: Bearer <token>`` and becomes one call of
``methods.dispatch_call``; errors come back as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livejobs import params as p
from livejobs import protocol
from livejobs.auth import Identity
from livejobs.errors import Invalid, LivejobsError, TooLarge, UnsupportedVersion
from livejobs.methods import METHODS, Services, dispatch_call

log = logging.getLogger("livejobs.http")

JOB_ACTIONS = (
    "cancel",
    "restart",
    "pause",
    "resume",
    "ready",
    "rerun",
    "remove",
    "log",
    "progress",
    "done",
    "fail",
    "heartbeat",
    "snooze",
)


class MsgspecResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


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
                await _error(exc)(scope, receive, self._stamped(send))
                return
        await self.app(scope, receive, self._stamped(send))

    def _stamped(self, send: Send) -> Send:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (self._name, self._value)]
            await send(message)

        return stamped


async def routing_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers in the API's error shape, not plain text."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "invalid"}.get(status, "invalid" if status < 500 else "internal")
    detail = getattr(exc, "detail", None) or "error"
    headers = getattr(exc, "headers", None)
    return MsgspecResponse(
        {"error": {"code": code, "message": f"{detail}: {request.method} {request.url.path}"}},
        status_code=status,
        headers=headers,
    )


def _error(exc: LivejobsError) -> Response:
    return MsgspecResponse({"error": exc.to_dict()}, status_code=exc.http_status)


async def _body(request: Request, limit: int) -> Any:
    """The JSON body, read as it streams in and refused (``too_large``) the moment it passes
    ``limit``, or at once when its Content-Length says it will: never buffered whole first."""
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
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise Invalid(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise Invalid("body is nested too deeply") from None


async def _identity(request: Request) -> Identity:
    """Who is calling, from ``Authorization: Bearer``: checked before any body is read."""
    services: Services = request.app.state.services
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
    services: Services = request.app.state.services
    if protocol.too_deep(params):
        return _error(Invalid(f"the body is nested deeper than {protocol.MAX_DEPTH} levels"))
    try:
        identity = identity or await _identity(request)
        result = await dispatch_call(services, identity, method, params, None)
    except LivejobsError as exc:
        return _error(exc)
    except Exception:
        log.exception("HTTP %s failed", method)
        return MsgspecResponse(
            {"error": {"code": "internal", "message": "internal server error"}}, status_code=500
        )
    return MsgspecResponse(result, status_code=status)


def _limit(request: Request) -> int:
    return int(request.app.state.services.settings.max_frame_bytes)


async def _with_body(
    request: Request, method: str, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    try:
        identity = await _identity(request)
        params = await _body(request, _limit(request))
    except LivejobsError as exc:
        return _error(exc)
    if extra:
        if not isinstance(params, dict):
            return _error(Invalid("body must be a JSON object"))
        params = {**params, **extra}
    return await _call(request, method, params, status, identity)


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
            if name in query:
                params[name] = msgspec.json.decode(query[name])
        for name in ("limit", "skip"):
            if name in query:
                params[name] = int(query[name])
    except (msgspec.DecodeError, ValueError, RecursionError):
        return _error(Invalid("filter and sort must be JSON; limit and skip integers"))
    return await _call(request, "jobs.find", params)


async def get_job(request: Request) -> Response:
    return await _call(request, "jobs.get", {"id": request.path_params["id"]})


async def job_action(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in JOB_ACTIONS:
        return _error(Invalid(f"unknown action {action!r}; one of {', '.join(JOB_ACTIONS)}"))
    return await _with_body(request, f"jobs.{action}", {"id": request.path_params["id"]})


async def claim(request: Request) -> Response:
    return await _with_body(request, "jobs.claim")


async def any_method(request: Request) -> Response:
    try:
        identity = await _identity(request)
        params = await _body(request, _limit(request))
    except LivejobsError as exc:
        return _error(exc)
    response = await _call(request, request.path_params["method"], params, identity=identity)
    if response.status_code == 200:
        return Response(b'{"result":' + bytes(response.body) + b"}", media_type="application/json")
    return response


routes = [
    Route("/jobs", create_job, methods=["POST"]),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/batch", create_batch, methods=["POST"]),
    Route("/jobs/{id}", get_job, methods=["GET"]),
    Route("/jobs/{id}/{action}", job_action, methods=["POST"]),
    Route("/claim", claim, methods=["POST"]),
    Route("/call/{method:path}", any_method, methods=["POST"]),
]


# -- OpenAPI ------------------------------------------------------------------------------


def _op(
    summary: str,
    schema: str | None = None,
    *,
    status: str = "200",
    path_id: bool = False,
    query: list[str] | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            status: {"description": "the result", "content": {"application/json": {"schema": {}}}},
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    parameters = []
    if path_id:
        parameters.append(
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        )
    for name in query or []:
        kind = "integer" if name in ("limit", "skip") else "string"
        parameters.append(
            {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
        )
    if parameters:
        op["parameters"] = parameters
    if schema:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    return op


def openapi() -> dict[str, Any]:
    """The document is derived from the params Structs, so it cannot drift from validation."""
    kinds = sorted({kind for kind, _ in METHODS.values()}, key=lambda k: k.__name__)
    _, components = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}"
    )
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    paths: dict[str, Any] = {
        "/api/jobs": {
            "post": _op("Create a job (jobs.create)", "CreateJob", status="201"),
            "get": _op("Find jobs (jobs.find)", query=["filter", "sort", "limit", "skip"]),
        },
        "/api/jobs/batch": {
            "post": _op("Create many jobs (jobs.create_many)", "CreateMany", status="201")
        },
        "/api/jobs/{id}": {"get": _op("Get a job (jobs.get)", path_id=True)},
        "/api/claim": {"post": _op("Claim ready jobs (jobs.claim)", "Claim")},
    }
    for action in JOB_ACTIONS:
        # the body is the method's params; the path's id replaces any id in it
        kind = METHODS[f"jobs.{action}"][0]
        paths[f"/api/jobs/{{id}}/{action}"] = {
            "post": _op(
                f"jobs.{action}", kind.__name__, path_id=True, body_required=kind is not p.JobRefs
            )
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "livejobs",
            "version": protocol.API_VERSION,
            "description": "HTTP API of livejobs; see docs/protocol.md",
            "x-protocol-version": protocol.PROTOCOL_VERSION,
            "x-protocol-versions": list(protocol.SUPPORTED_PROTOCOLS),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_route(request: Request) -> Response:
    return JSONResponse(openapi())
