"""Request ids, one structured log line per request, and request metrics: a pure ASGI middleware."""

import json
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.serving.metrics import ServiceMetrics

access_logger = logging.getLogger("app.access")

# An incoming id is echoed only if it is short and plain, so it cannot forge log lines or headers.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Request ids need to be unique, not secret: 128 bits from a generator seeded once from the OS.
# uuid4() reads os.urandom per request, a system call that lets go of the GIL, and under load the
# inference thread takes it for up to a switch interval (5 ms) before the event loop gets it back.
_request_ids = random.Random()


def new_request_id() -> str:
    return f"{_request_ids.getrandbits(128):032x}"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = safe_request_id(headers.get("x-request-id")) or new_request_id()
        client_request_id = safe_request_id(headers.get("x-ms-client-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
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
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            # The router records the route it matched: a bounded label set, unlike raw paths.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            record_request(
                self.metrics,
                RequestRecord(scope["method"], route, request_id, client_request_id),
                status,
                time.perf_counter() - started,
                scope["state"].get("log_fields", {}),
            )


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


def safe_request_id(value: str | None) -> str | None:
    return value if value is not None and SAFE_REQUEST_ID.match(value) else None
