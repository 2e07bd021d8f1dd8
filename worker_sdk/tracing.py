"""OpenTelemetry spans for a job's life, when OpenTelemetry is installed (``livejobs[otel]``).

- ``livejobs.create <type>`` around a create (``livejobs.create_many`` for a batch); its
  context goes into the job as ``trace`` (W3C ``traceparent``/``tracestate``), so the job
  carries its creator's trace to whichever worker runs it, through the store.
- ``livejobs.claim <type>`` from the moment a worker is handed the job until a handler is free
  for it (the wait of a prefetched job), and ``livejobs.run <type>`` around the handler: both
  children of the create span, so a job's run appears under the request that created it.

Without opentelemetry-api nothing here imports it and nothing is added to a job. With the API
but no SDK configured, its spans are no-ops and carry no valid context: no ``trace`` is sent.
The import is deferred to the first job, so importing ``livejobs_sdk`` costs nothing more.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from livejobs_sdk.errors import Snooze

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

#: the instrumentation scope of every span here
SCOPE = "livejobs_sdk"
#: the keys of a W3C trace context, as the job's ``trace`` field holds them
TRACE_KEYS = ("traceparent", "tracestate")


class _Otel:
    """The parts of opentelemetry-api used here, imported once."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.trace = trace
        self.empty = Context
        # W3C only, whatever the application's global propagators: the job field is W3C
        self.propagator = TraceContextTextMapPropagator()
        self.tracer = trace.get_tracer(SCOPE)

    def carried(self, doc: dict[str, Any]) -> Context:
        """The creator's context from a job's ``trace``; an empty one (a new trace) without
        it, never the context the worker happens to run in."""
        trace = doc.get("trace")
        if not isinstance(trace, dict):
            return self.empty()
        carrier = {k: v for k, v in trace.items() if k in TRACE_KEYS and isinstance(v, str)}
        return self.propagator.extract(carrier, context=self.empty())


@functools.cache
def _otel() -> _Otel | None:
    try:
        return _Otel()
    except ImportError:
        return None


def enabled() -> bool:
    """Whether OpenTelemetry is installed (then the SDK traces its jobs)."""
    return _otel() is not None


class Creation:
    """A create in progress: ``trace`` is what to put in the job (None: nothing)."""

    def __init__(self, span: Span | None, trace: dict[str, str] | None) -> None:
        self.span = span
        self.trace = trace

    def created(self, job_ids: list[str]) -> None:
        if self.span is not None and len(job_ids) == 1:
            self.span.set_attribute("messaging.message.id", job_ids[0])
        elif self.span is not None:
            self.span.set_attribute("messaging.batch.message_count", len(job_ids))


@contextlib.contextmanager
def creating(job_type: str | None) -> Iterator[Creation]:
    """A ``livejobs.create <type>`` span (``livejobs.create_many`` when ``job_type`` is None)
    under the current span, current while the create runs; its W3C context to send."""
    otel = _otel()
    if otel is None:
        yield Creation(None, None)
        return
    name = "livejobs.create_many" if job_type is None else f"livejobs.create {job_type}"
    kind = otel.trace.SpanKind.PRODUCER
    span = otel.tracer.start_span(name, kind=kind, attributes=_attributes("create", job_type))
    if not span.get_span_context().is_valid:  # no SDK, no trace to pass on: the cheap way
        yield Creation(None, None)
        return
    with otel.trace.use_span(span, end_on_exit=True):
        carrier: dict[str, str] = {}
        otel.propagator.inject(carrier)
        trace = {k: carrier[k] for k in TRACE_KEYS if carrier.get(k)}
        yield Creation(span, trace or None)


class Claim:
    """The ``livejobs.claim`` span of a job handed to this worker (``end`` again: no-op)."""

    def __init__(self, span: Span | None) -> None:
        self._span = span

    def end(self) -> None:
        span, self._span = self._span, None
        if span is not None:
            span.end()


def claim(doc: dict[str, Any], worker_id: str | None) -> Claim:
    """A ``livejobs.claim <type>`` span, from now, under the job's creator."""
    otel = _otel()
    if otel is None:
        return Claim(None)
    span = otel.tracer.start_span(
        f"livejobs.claim {doc['type']}",
        context=otel.carried(doc),
        kind=otel.trace.SpanKind.CONSUMER,
        attributes=_job_attributes("receive", doc, worker_id),
    )
    return Claim(span if span.get_span_context().is_valid else None)


@contextlib.contextmanager
def running(doc: dict[str, Any], worker_id: str | None) -> Iterator[None]:
    """The handler's ``livejobs.run <type>`` span, under the job's creator and current while
    it runs (the handler's own spans are its children). An exception marks it an error,
    except a snooze and a cancellation, which are events."""
    otel = _otel()
    if otel is None:
        yield
        return
    span = otel.tracer.start_span(
        f"livejobs.run {doc['type']}",
        context=otel.carried(doc),
        kind=otel.trace.SpanKind.CONSUMER,
        attributes=_job_attributes("process", doc, worker_id),
    )
    if not span.get_span_context().is_valid:  # no SDK, no trace to pass on
        yield
        return
    quiet = {"record_exception": False, "set_status_on_exception": False}  # said below
    with otel.trace.use_span(span, end_on_exit=True, **quiet):
        try:
            yield
        except Snooze as exc:
            span.add_event("livejobs.snoozed", {"livejobs.snooze.seconds": exc.seconds})
            raise
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(otel.trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            raise
        except BaseException:  # cancelled: by the server, or handed back
            span.add_event("livejobs.cancelled")
            raise


def _attributes(operation: str, job_type: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"messaging.system": "livejobs", "messaging.operation.type": operation}
    if job_type is not None:
        out["messaging.destination.name"] = job_type
    return out


def _job_attributes(operation: str, doc: dict[str, Any], worker_id: str | None) -> dict[str, Any]:
    out = _attributes(operation, doc["type"])
    out["messaging.message.id"] = doc["id"]
    out["livejobs.job.attempt"] = doc.get("attempts", 0)
    if worker_id:
        out["livejobs.worker.id"] = worker_id
    return out
