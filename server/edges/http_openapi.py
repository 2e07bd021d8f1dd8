"""/openapi.json (OpenAPI 3.1), assembled from types: request bodies from ``livejobs.params``,
results from ``livejobs.edges.http_results``, errors from
``livejobs.edges.http_problems.Problem``, all through one ``msgspec.json.schema_components``
call, so the document cannot drift from what the server validates and answers.

Every success is ``{"result": <the method's result>}`` (the WebSocket result frame's
``result``); every failure is ``application/problem+json``.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import msgspec

from livejobs import params as p
from livejobs import protocol
from livejobs.edges.http_problems import CODES, MEDIA_TYPE, Problem
from livejobs.edges.http_results import RESULTS, WEBSOCKET_ONLY, Health
from livejobs.methods import METHODS

REF = "#/components/schemas/{name}"

#: the job actions: POST /api/jobs/{id}/<action> calls jobs.<action> on the path's job
JOB_ACTIONS = (
    *("cancel", "restart", "pause", "resume", "ready", "rerun", "remove"),
    *("set_priority", "set_delay"),
    *("log", "progress", "done", "fail", "heartbeat", "snooze", "update_data"),
)

DESCRIPTION = """\
The HTTP edge of livejobs: the methods of the WebSocket protocol (docs/protocol.md) as
requests, for clients that cannot hold a socket. Each request is one call of one method.

- Authenticate every request with `Authorization: Bearer <token>`.
- A success is `{{"result": ...}}`: the same value the WebSocket result frame carries.
- An error is an RFC 9457 problem (`application/problem+json`): `type`, `title`, `status`,
  `detail`, and `code`, the stable cause (one of: {codes}).
- Every answer carries `Livejobs-Protocol: {version}`; a request may send it too, and a version
  the server does not speak is refused with `unsupported_version`.
- `POST /api/call/{{method}}` calls any method the WebSocket protocol has, except those that act
  on the connection itself ({websocket_only}); its body is the method's params. It is listed
  once per method (`/api/call/jobs.counts`, ...). The job routes are shortcuts for the common
  calls, the job named by the path.
- Integers are JSON numbers without a fraction or exponent: `5`, not `5.0`.
"""


def _alternatives() -> list[Any]:
    """Every result type (msgspec cannot put an untagged union of Structs in one schema)."""
    return [k for v in RESULTS.values() for k in (v if isinstance(v, tuple) else (v,))]


class _Schemas:
    """Every type's schema, from one ``schema_components`` call (shared ``$ref``s)."""

    def __init__(self) -> None:
        kinds = sorted({kind for kind, _ in METHODS.values()}, key=lambda k: k.__name__)
        results = list(dict.fromkeys(_alternatives()))
        types: list[Any] = [*kinds, *results, Problem, Health]
        refs, self.components = msgspec.json.schema_components(types, ref_template=REF)
        self.params = {kind: ref for kind, ref in zip(kinds, refs, strict=False)}
        found = refs[len(kinds) : len(kinds) + len(results)]
        self.results = {str(kind): ref for kind, ref in zip(results, found, strict=True)}
        self.health = refs[-1]

    def result(self, method: str, *, one_job: bool = False) -> dict[str, Any]:
        """The schema of ``method``'s result; ``one_job``: of a job route (the path's id)."""
        answer = RESULTS[method]
        if not isinstance(answer, tuple):
            return self.results[str(answer)]
        if one_job:
            return self.results[str(answer[0])]
        return {"anyOf": [self.results[str(kind)] for kind in answer]}

    def requires(self, ref: dict[str, Any]) -> bool:
        """Whether a body must be sent: its schema has required fields (else ``{}`` will do)."""
        name = ref["$ref"].rsplit("/", 1)[-1]
        return bool(self.components[name].get("required"))

    def body_without_id(self, kind: type[p.Params]) -> dict[str, Any]:
        """The params of a job action minus ``id`` (and ``ids``): the path names the job."""
        name = f"{kind.__name__}Body"
        if name not in self.components:
            schema = copy.deepcopy(self.components[kind.__name__])
            for field in ("id", "ids"):
                schema["properties"].pop(field, None)
            schema["required"] = [f for f in schema.get("required", []) if f != "id"]
            if not schema["required"]:
                del schema["required"]
            schema["title"] = name
            schema["description"] = f"{kind.__name__} without `id`: the path names the job."
            self.components[name] = schema
        return {"$ref": REF.format(name=name)}


def _envelope(result: dict[str, Any], status: str = "200") -> dict[str, Any]:
    problem = {MEDIA_TYPE: {"schema": {"$ref": REF.format(name="Problem")}}}
    return {
        status: {
            "description": "`result`: what the method answers",
            "headers": {"Livejobs-Protocol": {"$ref": "#/components/headers/Protocol"}},
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"result": result},
                        "required": ["result"],
                    }
                }
            },
        },
        "4XX": {"description": "the request was refused: see `code`", "content": problem},
        "5XX": {"description": "the server could not answer", "content": problem},
    }


def _op(
    method: str,
    summary: str,
    body: dict[str, Any] | None,
    schemas: _Schemas,
    *,
    status: str = "200",
    parameters: list[dict[str, Any]] | None = None,
    one_job: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": method.replace(".", "_"),
        "summary": summary,
        "tags": [method.split(".")[0]],
        "security": [{"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/Protocol"}, *(parameters or [])],
        "responses": _envelope(schemas.result(method, one_job=one_job), status),
    }
    if body is not None:
        content = {"application/json": {"schema": body}}
        op["requestBody"] = {"required": schemas.requires(body), "content": content}
    return op


_PATH_ID = {"name": "id", "in": "path", "required": True, "schema": {"$ref": REF.format(name="Id")}}


def _idempotency(schemas: _Schemas) -> dict[str, Any]:
    request_id = schemas.components["CreateJob"]["properties"]["request_id"]["anyOf"][0]
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "the create's `request_id` (it replaces one in the body): a retry with "
        "the same key gets the first answer",
        "schema": request_id,
    }


def _find_parameters(schemas: _Schemas) -> list[dict[str, Any]]:
    find = schemas.components["Find"]["properties"]

    def as_json(name: str) -> dict[str, Any]:
        schema = {k: v for k, v in find[name].items() if k != "default"}
        return {
            "name": name,
            "in": "query",
            "description": f"`jobs.find`'s `{name}` as JSON text (docs/protocol.md)",
            "content": {"application/json": {"schema": schema}},
        }

    return [
        as_json("filter"),
        as_json("sort"),
        {"name": "limit", "in": "query", "schema": find["limit"]},
        {"name": "skip", "in": "query", "schema": find["skip"]},
    ]


def _job_paths(schemas: _Schemas) -> dict[str, Any]:
    ref = schemas.params
    paths: dict[str, Any] = {
        "/api/jobs": {
            "post": _op(
                "jobs.create",
                "Create a job",
                ref[p.CreateJob],
                schemas,
                status="201",
                parameters=[_idempotency(schemas)],
            ),
            "get": _op(
                "jobs.find", "Find jobs", None, schemas, parameters=_find_parameters(schemas)
            ),
        },
        "/api/jobs/batch": {
            "post": _op(
                "jobs.create_many",
                "Create many jobs",
                ref[p.CreateMany],
                schemas,
                status="201",
                parameters=[_idempotency(schemas)],
            )
        },
        "/api/jobs/{id}": {
            "get": _op("jobs.get", "Get a job", None, schemas, parameters=[_PATH_ID])
        },
        "/api/claim": {"post": _op("jobs.claim", "Claim ready jobs", ref[p.Claim], schemas)},
    }
    for action in JOB_ACTIONS:
        kind = METHODS[f"jobs.{action}"][0]
        body = schemas.body_without_id(kind)
        operation = _op(
            f"jobs.{action}",
            f"jobs.{action} on the path's job",
            body,
            schemas,
            parameters=[_PATH_ID],
            one_job=True,
        )
        paths[f"/api/jobs/{{id}}/{action}"] = {"post": operation}
    return paths


def _call_paths(schemas: _Schemas) -> dict[str, Any]:
    """``POST /api/call/{method}``, listed once per method: OpenAPI cannot tie a body's schema
    to a path parameter, and each method's own params and result are what a client needs."""
    paths: dict[str, Any] = {}
    for name in RESULTS:
        kind = METHODS[name][0]
        operation = _op(name, f"Call {name}", schemas.params[kind], schemas)
        operation["operationId"] = "call_" + operation["operationId"]
        operation["tags"] = ["call"]
        paths[f"/api/call/{name}"] = {"post": operation}
    return paths


def _plain_paths(schemas: _Schemas) -> dict[str, Any]:
    """The routes outside /api: probes, metrics and this document; no token, no envelope."""
    health = {"application/json": {"schema": schemas.health}}

    def probe(summary: str) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "healthy", "content": health},
                    "503": {"description": "not ready, and why (`problems`)", "content": health},
                },
            }
        }

    text = {"text/plain": {"schema": {"type": "string"}}}
    document = {"application/json": {"schema": {"type": "object"}}}
    return {
        "/healthz": probe("The process answers"),
        "/readyz": probe("The store answers and the feed, dispatcher and timer run"),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (docs/operations.md)",
                "tags": ["operations"],
                "security": [],
                "responses": {"200": {"description": "the exposition", "content": text}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["operations"],
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": document}},
            }
        },
    }


@cache
def openapi() -> dict[str, Any]:
    """The whole document: computed once, since it depends only on types."""
    schemas = _Schemas()
    schemas.components["Id"] = {"type": "string", "minLength": 1, "maxLength": 64}
    description = DESCRIPTION.format(
        codes=", ".join(f"`{c}`" for c in CODES),
        version=protocol.PROTOCOL_VERSION,
        websocket_only=", ".join(f"`{m}`" for m in WEBSOCKET_ONLY),
    )
    versions = [str(v) for v in protocol.SUPPORTED_PROTOCOLS]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "livejobs",
            "version": protocol.API_VERSION,
            "description": description,
            "x-protocol-version": protocol.PROTOCOL_VERSION,
            "x-protocol-versions": list(protocol.SUPPORTED_PROTOCOLS),
        },
        "paths": {**_job_paths(schemas), **_call_paths(schemas), **_plain_paths(schemas)},
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "Protocol": {
                    "name": protocol.PROTOCOL_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "the protocol version the client speaks",
                    "schema": {"type": "string", "enum": versions},
                }
            },
            "headers": {
                "Protocol": {
                    "description": "the protocol version the server speaks",
                    "schema": {"type": "string"},
                }
            },
        },
    }
