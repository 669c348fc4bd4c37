"""Request ids, one structured log line per request, request metrics, TEI's timing headers and,
where tracing is on, the request's span: a pure ASGI middleware, and what gRPC calls share of it."""

import json
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.engine.timeline import Timeline
from app.serving.metrics import ServiceMetrics
from app.serving.tracing import RequestTracer

access_logger = logging.getLogger("app.access")

# An incoming id is echoed only if it is short and plain, so it cannot forge log lines or headers.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# What a span carries of a request's log fields (never its texts): the protocol's attributes besides.
SPAN_FIELDS = {"model", "task", "inputs", "http.request.method", "http.route", "http.response.status_code"}
SPAN_FIELDS |= {"rpc.system", "rpc.service", "rpc.method", "rpc.grpc.status_code"}

# Request ids need to be unique, not secret: 128 bits from a generator seeded once from the OS.
# uuid4() reads os.urandom per request, a system call that lets go of the GIL, and under load the
# inference thread takes it for up to a switch interval (5 ms) before the event loop gets it back.
_request_ids = random.Random()


def new_request_id() -> str:
    return f"{_request_ids.getrandbits(128):032x}"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, tracer: RequestTracer | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = safe_request_id(headers.get("x-request-id")) or new_request_id()
        client_request_id = safe_request_id(headers.get("x-ms-client-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        span = self.tracer.start(scope["method"], headers) if self.tracer is not None else None
        started = time.perf_counter()
        status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["x-request-id"] = request_id
                if client_request_id:
                    response_headers["x-ms-client-request-id"] = client_request_id
                timeline = scope["state"].get("timeline")
                if timeline is not None and timeline.decoded:  # an inference, answered
                    add_timing_headers(response_headers, timeline)
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            # The router records the route it matched: a bounded label set, unlike raw paths.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            record = RequestRecord(scope["method"], route, request_id, client_request_id)
            log_fields = scope["state"].get("log_fields", {})
            record_request(self.metrics, record, status, time.perf_counter() - started, log_fields)
            if span is not None and self.tracer is not None:
                span.update_name(f"{scope['method']} {route}")
                attributes = {"http.request.method": scope["method"], "http.route": route}
                attributes["http.response.status_code"] = status
                timeline = scope["state"].get("timeline")
                finish_span(self.tracer, span, record, status, log_fields | attributes, timeline)


@dataclass(frozen=True)
class RequestRecord:
    """What the access log and the request metrics say of a request besides its outcome. gRPC
    calls are recorded as method `GRPC` and their full method name as route."""

    method: str
    route: str
    request_id: str
    client_request_id: str | None = None


def record_request(
    metrics: ServiceMetrics, record: RequestRecord, status: int, seconds: float, log_fields: dict[str, Any]
) -> None:
    """Every protocol's request metrics and access-log line, once its answer is sent."""
    metrics.observe_request(record.method, record.route, status, seconds)
    if "model" in log_fields:  # set by the data plane: an inference request
        metrics.observe_model_request(log_fields["model"], status, seconds)
    if access_logger.isEnabledFor(logging.INFO):  # LOG_LEVEL=warning: no line to build
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "event": "request",
            "request_id": record.request_id,
            "client_request_id": record.client_request_id,
            "method": record.method,
            "route": record.route,
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
        }
        line.update(log_fields)
        access_logger.info(json.dumps(line))


def finish_span(
    tracer: RequestTracer,
    span: Span,
    record: RequestRecord,
    status: int,
    fields: dict[str, Any],
    timeline: Timeline | None,
) -> None:
    """A request's span, with what its log line says and, for an inference, its steps."""
    attributes = {"request.id": record.request_id, "request.client_id": record.client_request_id}
    attributes |= {key: value for key, value in fields.items() if key in SPAN_FIELDS}
    tracer.finish(span, status >= 500, attributes, timeline)


def add_timing_headers(headers: MutableHeaders, timeline: Timeline) -> None:
    """TEI's timing headers, in whole milliseconds as TEI writes them: tokenizing, waiting for a
    batch, in the model, and all three (`x-compute-time`); with the tokens the model read."""
    # append, not assignment: none of these is there yet, and assignment scans every header first
    for name, milliseconds in timeline.milliseconds().items():
        headers.append(f"x-{name}-time", str(int(milliseconds)))
    headers.append("x-compute-tokens", str(timeline.tokens))


def safe_request_id(value: str | None) -> str | None:
    return value if value is not None and SAFE_REQUEST_ID.match(value) else None
