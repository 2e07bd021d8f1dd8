"""Hostile HTTP: schemathesis (its Python API) generates valid and invalid requests for every
operation of the full ``/openapi.json`` against a live server process; routing errors and the
OpenAPI document itself are checked against the protocol's promises."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, HookContext, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from livejobs.edges.http_openapi import openapi
from livejobs.edges.http_problems import CODES
from tests.reliability.procs import assert_server_healthy
from tests.servers import ADMIN_TOKEN, ProcessServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


# The document the server serves is built from types alone (livejobs.edges.http_openapi), so
# it loads at collection, one test per operation; test_the_served_document_is_the_one_tested
# checks that the live server serves this very document. (schemathesis' lazy ``from_fixture``
# loader does not run under pytest 9: it reads the removed ``Node._nodeid``.)
schema = schemathesis.openapi.from_dict(openapi())


def _has_integral_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_integral_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_integral_float(v) for v in value)
    return False


@schema.hook
def filter_body(context: HookContext, body: Any) -> bool:
    """JSON Schema counts ``5.0`` as an integer; the protocol (msgspec, strictly) does not, and
    says so in /openapi.json: integers are sent without a fraction. Such a body is refused with
    a 400 problem, which the positive-data check would report as a valid request rejected."""
    return not _has_integral_float(body)


@schemathesis.check
def problem_details(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every refusal is an RFC 9457 problem with one of the protocol's codes."""
    if response.status_code < 400:
        return None
    assert response.headers["content-type"] == ["application/problem+json"], response.headers
    body = response.json()
    assert body["status"] == response.status_code, body
    assert body["code"] in CODES, body
    assert body["detail"], body
    return True


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_http_api_under_schemathesis(case: Case, fuzz_server: ProcessServer) -> None:
    """Valid and invalid requests (examples, coverage, fuzzing) for every operation of the full
    /openapi.json, under every check schemathesis has: no server error, invalid input refused
    with a 4xx problem, every answer in the status codes, media types and schemas the document
    declares."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("wait"), int | float):
        # a valid blocking claim waits up to 60 s for work that never comes here: keep it
        # valid but short, under the call's timeout (test_blocking_claim.py covers the wait)
        if 1 < body["wait"] <= 60:
            body["wait"] = 1.0
    response = case.call_and_validate(
        base_url=fuzz_server.http_url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        additional_checks=[problem_details],
        # a schema-valid request may still be refused: filters, cron expressions and limits are
        # checked beyond their JSON types (docs/protocol.md), and answered with a 400 problem
        excluded_checks=[positive_data_acceptance],
        timeout=10,
    )
    assert response.status_code < 500, response.text  # what the checks above proved in detail


def test_the_server_survived_schemathesis(fuzz_server: ProcessServer) -> None:
    assert_server_healthy(fuzz_server)


def test_the_served_document_is_the_one_tested(fuzz_server: ProcessServer) -> None:
    served = httpx.get(f"{fuzz_server.http_url}/openapi.json")
    assert served.json() == openapi()


# Regression (fixed): errors from Starlette's routing (unknown path: 404, wrong method: 405) are
# plain text, not the documented problem details (server/app.py adds no
# exception handler for HTTPException); found by schemathesis' content_type_conformance


@pytest.mark.parametrize("method,path", [("GET", "/api/jobs/a%0Ab/x/y"), ("DELETE", "/api/jobs")])
def test_http_routing_errors_use_the_error_shape(fuzz_server, method, path):
    response = httpx.request(
        method, fuzz_server.http_url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code in (404, 405)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in CODES


# Regression (fixed): server/http_api.py openapi(): POST
# /api/jobs/{id}/{log,progress,done,fail,heartbeat, snooze} document no request body although each
# requires one (lease, ...), so clients generated from /openapi.json cannot call them; found by
# schemathesis' positive_data_acceptance


def test_openapi_documents_the_bodies_worker_actions_need(fuzz_server):
    spec = httpx.get(f"{fuzz_server.http_url}/openapi.json").json()
    for action in ("log", "progress", "done", "fail", "heartbeat", "snooze"):
        assert "requestBody" in spec["paths"][f"/api/jobs/{{id}}/{action}"]["post"], action
