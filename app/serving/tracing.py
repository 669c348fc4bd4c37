"""OpenTelemetry traces: every request a span, continuing the W3C `traceparent` it came with, and
under an inference its steps as child spans — tokenize, queue, each batch its inputs ran in (linked
to that batch's own span, which carries its size and padded tokens), decode — drawn from the
request's `Timeline` once it is answered, so the hot path only notes times.

On when the standard variables ask for it: OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_EXPORTER_OTLP_PROTOCOL `grpc`, else http/protobuf),
OTEL_SERVICE_NAME (default `bert-serving`), OTEL_RESOURCE_ATTRIBUTES; or
APPLICATIONINSIGHTS_CONNECTION_STRING, exported to Azure Monitor (with
azure-monitor-opentelemetry-exporter installed). Off otherwise:
the SDK is not even imported, and a request costs one `is None` test.
"""

import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.engine.timeline import BatchRun, Timeline

OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
AZURE_VARIABLE = "APPLICATIONINSIGHTS_CONNECTION_STRING"
DEFAULT_SERVICE_NAME = "bert-serving"
REMEMBERED_BATCHES = 1024  # a batch's span is made by the first of its requests to finish
NS = 1_000_000_000
PROPAGATOR = TraceContextTextMapPropagator()


class RequestTracer:
    """Spans for requests, from a tracer whose provider exports them."""

    def __init__(self, tracer: Tracer, provider: Any = None) -> None:
        self.tracer = tracer
        self.provider = provider  # flushed and shut down with the app
        self._batches: OrderedDict[int, SpanContext] = OrderedDict()
        # Timelines are time.monotonic(); spans are wall-clock nanoseconds.
        self._wall_offset = time.time() - time.monotonic()

    def start(self, name: str, carrier: Mapping[str, str], kind: SpanKind = SpanKind.SERVER) -> Span:
        """A request's span, the child of the trace its `traceparent` names (a new trace without)."""
        parent = PROPAGATOR.extract(carrier) if "traceparent" in carrier else Context()
        return self.tracer.start_span(name, context=parent, kind=kind)

    def finish(
        self, span: Span, failed: bool, attributes: Mapping[str, Any], timeline: Timeline | None
    ) -> None:
        span.set_attributes({key: value for key, value in attributes.items() if value is not None})
        if timeline is not None and timeline.decoded:
            self._steps(span, timeline)
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # exports what is left

    def _ns(self, monotonic: float) -> int:
        return int((monotonic + self._wall_offset) * NS)

    def _steps(self, request_span: Span, timeline: Timeline) -> None:
        parent = trace.set_span_in_context(request_span)
        first_batch = timeline.first_batch_started
        self._child(parent, "tokenize", timeline.started, timeline.tokenized, {"tokens": timeline.tokens})
        self._child(parent, "queue", timeline.tokenized, max(first_batch, timeline.tokenized))
        for batch in timeline.batches:
            link = Link(self._batch_span(batch), {"batch.id": batch.id})
            self._child(
                parent,
                "batch",
                batch.started,
                batch.started + batch.seconds,
                {"batch.id": batch.id, "batch.size": batch.size, "batch.padded_tokens": batch.padded_tokens},
                [link],
            )
        self._child(parent, "decode", timeline.computed, timeline.decoded)

    def _child(
        self,
        parent: Context,
        name: str,
        start: float,
        end: float,
        attributes: Mapping[str, Any] | None = None,
        links: Iterable[Link] = (),
    ) -> None:
        span = self.tracer.start_span(
            name, context=parent, start_time=self._ns(start), attributes=attributes, links=list(links)
        )
        span.end(end_time=self._ns(end))

    def _batch_span(self, batch: BatchRun) -> SpanContext:
        """The batch's own span (a trace of its own: it serves many requests' traces)."""
        found = self._batches.get(batch.id)
        if found is None:
            span = self.tracer.start_span(
                "engine batch",
                context=Context(),
                kind=SpanKind.INTERNAL,
                start_time=self._ns(batch.started),
                attributes={
                    "batch.id": batch.id,
                    "batch.size": batch.size,
                    "batch.padded_tokens": batch.padded_tokens,
                },
            )
            span.end(end_time=self._ns(batch.started + batch.seconds))
            found = self._batches[batch.id] = span.get_span_context()
            if len(self._batches) > REMEMBERED_BATCHES:
                self._batches.popitem(last=False)
        return found


def tracing_from_environment(environ: Mapping[str, str] = os.environ) -> RequestTracer | None:
    """The tracer the environment asks for, or None (tracing off)."""
    otlp = any(environ.get(name) for name in OTLP_VARIABLES)
    azure = bool(environ.get(AZURE_VARIABLE))
    if not otlp and not azure:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    )
    provider = TracerProvider(resource=resource)
    for exporter in _exporters(environ, otlp, azure):
        provider.add_span_processor(BatchSpanProcessor(exporter))  # exports off the request path
    return RequestTracer(provider.get_tracer("app.serving"), provider)


def _exporters(environ: Mapping[str, str], otlp: bool, azure: bool) -> list[Any]:
    exporters: list[Any] = []
    if otlp:
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL"
        )
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
        exporters.append(OTLPSpanExporter())  # endpoint, headers and timeout from the environment
    if azure:
        try:
            from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
        except ImportError:  # the start stops with this one line, in any process
            raise SystemExit(
                f"{AZURE_VARIABLE} is set, but Azure Monitor's exporter is not installed: "
                "pip install azure-monitor-opentelemetry-exporter (the image leaves it out; or send OTLP "
                "to an OpenTelemetry Collector with its azuremonitor exporter)."
            ) from None
        exporters.append(AzureMonitorTraceExporter(connection_string=environ[AZURE_VARIABLE]))
    return exporters
