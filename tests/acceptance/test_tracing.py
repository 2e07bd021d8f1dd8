"""OpenTelemetry (issue 28): a job created inside a request's span is run under that trace.

The SDK's spans go to an in-memory exporter: ``livejobs.create`` under the request's span, then
``livejobs.claim`` and ``livejobs.run`` under the create (through the ``trace`` field the job
carries via a real server and its store), and the handler's own spans under the run; with the
async client and with the sync client (a plain handler in a thread, a caller thread with no
event loop). Without OpenTelemetry, nothing is sent and nothing changes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from livejobs_sdk import CallError, Snooze, SyncClient, WorkerJob, tracing
from tests.helpers import running_worker
from tests.servers import ROOT


class Spans:
    """The SDK's tracer and the test's, exporting to memory (no global provider is set)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def by_name(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.exporter.get_finished_spans()}


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    got = Spans()
    otel = tracing._otel()
    assert otel is not None
    monkeypatch.setattr(otel, "tracer", got.provider.get_tracer(tracing.SCOPE))
    yield got
    got.provider.shutdown()


def assert_one_trace_from_request_to_handler(spans: Spans, job_type: str) -> None:
    found = spans.by_name()
    request, handler = found["request"], found["handler work"]
    create = found[f"livejobs.create {job_type}"]
    claim, run = found[f"livejobs.claim {job_type}"], found[f"livejobs.run {job_type}"]
    assert {s.context.trace_id for s in (request, create, claim, run, handler)} == {
        request.context.trace_id
    }
    assert create.parent is not None and create.parent.span_id == request.context.span_id
    assert claim.parent is not None and claim.parent.span_id == create.context.span_id
    assert run.parent is not None and run.parent.span_id == create.context.span_id
    assert handler.parent is not None and handler.parent.span_id == run.context.span_id
    assert create.kind == trace.SpanKind.PRODUCER and run.kind == trace.SpanKind.CONSUMER
    assert run.attributes is not None and run.attributes["messaging.message.id"] == (
        create.attributes or {}
    ).get("messaging.message.id")


def traceparent_of(span: ReadableSpan) -> str:
    ctx = span.context
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


async def test_an_async_create_and_its_run_are_one_trace(server, spans):
    async def handler(job: WorkerJob) -> str:
        with spans.tracer.start_as_current_span("handler work"):
            return "ok"

    async with server.client() as client, running_worker(client, "traced", handler):
        with spans.tracer.start_as_current_span("request"):
            job = await client.job("traced", {"n": 1}).save()
        assert await job.result(timeout=10) == "ok"
        doc = await client.get_job(job.id)
    assert_one_trace_from_request_to_handler(spans, "traced")
    assert doc["trace"] == {
        "traceparent": traceparent_of(spans.by_name()["livejobs.create traced"])
    }


def test_a_sync_create_and_its_plain_handler_are_one_trace(sync_server, spans):
    def handler(job: Any) -> str:  # in the worker's thread pool
        with spans.tracer.start_as_current_span("handler work"):
            return "ok"

    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        with client.worker("traced", handler):
            with spans.tracer.start_as_current_span("request"):  # a thread with no loop
                job = client.job("traced", None).save()
            assert job.result(timeout=10) == "ok"
    assert_one_trace_from_request_to_handler(spans, "traced")


async def test_a_failed_run_is_an_error_span_and_a_batch_carries_one_trace(server, spans):
    async def handler(job: WorkerJob) -> None:
        raise ValueError("bad row")

    async with server.client() as client, running_worker(client, "broken", handler):
        with spans.tracer.start_as_current_span("request"):
            ids = await client.create_many([("broken", 1), ("broken", 2)])
        docs = [await client.wait_finished(job_id, timeout=10) for job_id in ids]
    runs = [s for s in spans.exporter.get_finished_spans() if s.name == "livejobs.run broken"]
    batch = spans.by_name()["livejobs.create_many"]
    assert [d["status"] for d in docs] == ["failed", "failed"] and len(runs) == 2
    for run in runs:
        assert run.status.status_code == trace.StatusCode.ERROR
        assert run.parent is not None and run.parent.span_id == batch.context.span_id
        assert [event.name for event in run.events] == ["exception"]


async def test_a_snoozed_run_is_an_event_not_an_error(server, spans):
    runs: list[str] = []

    async def handler(job: WorkerJob) -> str:
        runs.append(job.id)
        if len(runs) == 1:
            raise Snooze(0)
        return "ok"

    async with server.client() as client, running_worker(client, "later", handler):
        with spans.tracer.start_as_current_span("request"):
            job = await client.job("later").save()
        assert await job.result(timeout=10) == "ok"
    first, second = [
        s for s in spans.exporter.get_finished_spans() if s.name.startswith("livejobs.run")
    ]
    assert [e.name for e in first.events] == ["livejobs.snoozed"] and not second.events
    assert {first.status.status_code, second.status.status_code} == {trace.StatusCode.UNSET}
    assert (
        first.context.trace_id
        == second.context.trace_id
        == spans.by_name()["request"].context.trace_id
    )


async def test_a_malformed_trace_is_refused_at_create(server):
    async with server.client() as client:
        for trace_field in (
            {"traceparent": "not a traceparent"},
            {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "tracestate": "x" * 513},
            {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "baggage": "k=v"},
        ):
            with pytest.raises(CallError) as refused:
                await client.call("jobs.create", {"type": "t", "trace": trace_field})
            assert refused.value.code == "invalid" and "trace" in refused.value.message


async def test_without_opentelemetry_nothing_is_sent_or_traced(server, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # ``import`` now fails
    tracing._otel.cache_clear()
    try:
        assert not tracing.enabled()
        seen: list[dict[str, Any]] = []

        async def handler(job: WorkerJob) -> None:
            seen.append(job.doc)

        async with server.client() as client, running_worker(client, "plain", handler):
            job = await client.job("plain").save()
            await job.result(timeout=10)
            doc = await client.get_job(job.id)
        assert doc["trace"] is None and seen[0]["trace"] is None
    finally:
        tracing._otel.cache_clear()


async def test_with_the_api_alone_no_trace_is_sent(server, monkeypatch):
    otel = tracing._otel()
    assert otel is not None
    monkeypatch.setattr(otel, "tracer", trace.NoOpTracer())  # no SDK configured
    async with server.client() as client:
        job = await client.job("plain").save()
    assert job.doc is not None and job.doc["trace"] is None


def test_importing_the_sdk_imports_no_opentelemetry():
    check = "import sys, livejobs_sdk; assert not [m for m in sys.modules if 'opentelemetry' in m]"
    subprocess.run([sys.executable, "-c", check], check=True, cwd=ROOT, timeout=60)
