"""The HTTP API's one shape: ``{"result": ...}`` on every success, an RFC 9457 problem on every
error, the path the only job id, and every route and method in /openapi.json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from livejobs.edges import http_api
from livejobs.edges.http_openapi import openapi
from livejobs.edges.http_results import RESULTS, WEBSOCKET_ONLY
from livejobs.methods import METHODS
from tests.servers import InProcessServer


def _spec_paths() -> set[tuple[str, str]]:
    return {(verb.upper(), path) for path, ops in openapi()["paths"].items() for verb in ops}


def test_every_method_is_callable_over_http_or_named_websocket_only() -> None:
    assert set(RESULTS) | set(WEBSOCKET_ONLY) == set(METHODS)
    assert {f"/api/call/{name}" for name in RESULTS} <= {path for _, path in _spec_paths()}


def test_every_route_of_the_app_is_in_the_document(server: InProcessServer) -> None:
    """The app's own routes (probes, metrics, the document) and the /api routes, each listed."""
    documented = _spec_paths()
    listed = {path for _, path in documented}
    for route in server.app.routes:
        if isinstance(route, Route):
            assert route.path in listed, route.path
    api = [r for r in server.app.routes if isinstance(r, Mount) and r.path == "/api"]
    assert [m.routes for m in api] == [http_api.routes]
    for route in http_api.routes:
        assert isinstance(route, Route)
        path = "/api" + route.path.replace("{method:path}", "jobs.counts")
        if "{action}" in path:
            path = path.replace("{action}", "cancel")
        for verb in route.methods or ():
            assert verb == "HEAD" or (verb, path) in documented, (verb, path)


def test_every_success_schema_is_the_result_envelope() -> None:
    for path, ops in openapi()["paths"].items():
        if not path.startswith("/api/"):
            continue
        for op in ops.values():
            [ok] = [v for k, v in op["responses"].items() if k.startswith("2")]
            schema = ok["content"]["application/json"]["schema"]
            assert schema["required"] == ["result"] and schema["properties"]["result"], path
            assert op["responses"]["4XX"]["content"]["application/problem+json"]


def test_job_action_bodies_have_no_id() -> None:
    schemas = openapi()["components"]["schemas"]
    for path, ops in openapi()["paths"].items():
        if path.startswith("/api/jobs/{id}/"):
            ref = ops["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            body = schemas[ref.rsplit("/", 1)[-1]]
            assert "id" not in body["properties"] and "id" not in body.get("required", []), path


async def _post(srv: InProcessServer, path: str, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {srv.admin_token}"}
    async with httpx.AsyncClient(base_url=srv.http_url, headers=headers) as http:
        return await http.post(path, json=body)


async def test_the_path_is_the_only_job_id(server: InProcessServer) -> None:
    job = (await _post(server, "/api/jobs", {"type": "t"})).json()["result"]
    other = (await _post(server, "/api/jobs", {"type": "t"})).json()["result"]
    refused = await _post(server, f"/api/jobs/{job['id']}/cancel", {"id": other["id"]})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "invalid" and "path" in refused.json()["detail"]
    cancelled = await _post(server, f"/api/jobs/{job['id']}/cancel", {"reason": "no"})
    assert cancelled.status_code == 200
    assert cancelled.json()["result"]["status"] == "cancelled"
    assert cancelled.json()["result"]["id"] == job["id"]
    async with server.client() as admin:
        assert (await admin.call("jobs.get", {"id": other["id"]}))["status"] == "ready"


async def test_every_answer_has_one_shape(server: InProcessServer) -> None:
    job = (await _post(server, "/api/jobs", {"type": "t"})).json()["result"]
    [claimed] = (await _post(server, "/api/claim", {"types": ["t"]})).json()["result"]
    lease = claimed["lease"]["token"]
    answers = {
        "log": await _post(server, f"/api/jobs/{job['id']}/log", {"message": "hi"}),
        "done": await _post(server, f"/api/jobs/{job['id']}/done", {"lease": lease}),
        "call": await _post(server, "/api/call/jobs.counts", {}),
        "bulk": await _post(server, "/api/call/jobs.remove", {"ids": [job["id"]]}),
    }
    assert {name: list(a.json()) for name, a in answers.items()} == {
        name: ["result"] for name in answers
    }
    assert answers["log"].json()["result"] is True
    assert answers["call"].json()["result"]["status"] == {"completed": 1}
    assert answers["bulk"].json()["result"] == {"done": [job["id"]], "errors": {}}


@pytest.mark.parametrize("method", WEBSOCKET_ONLY)
async def test_websocket_only_methods_are_refused_over_http(
    server: InProcessServer, method: str
) -> None:
    answer = await _post(server, f"/api/call/{method}", {})
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["code"] == "invalid" and problem["type"] == "about:blank"
    assert problem["title"] == "Bad Request" and problem["status"] == 400


async def test_errors_are_problem_details(server: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        answers = [
            await http.get("/api/jobs"),  # no token
            await http.get("/api/nowhere"),
            await http.delete("/api/jobs"),
        ]
    assert [a.status_code for a in answers] == [401, 404, 405]
    for answer in answers:
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert set(body) == {"type", "title", "status", "detail", "code"}
        assert body["status"] == answer.status_code and body["detail"]
    assert set(answers[2].headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
