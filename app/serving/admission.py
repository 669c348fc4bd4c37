"""Admission control as a pure ASGI layer: at most `limit` inference requests (every POST) in
flight; the next one is refused with 429 before routing, before its body is read, without a log
line of its own.

A refusal beats a queue that grows without bound: the client learns at once that it should retry
or go elsewhere. Under a flood of clients that retry without waiting, every refusal must cost
next to nothing, or the refusals eat the CPU the admitted requests need.
"""

import json
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.serving.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 10.0


class AdmissionControl:
    """Counts inference requests in flight (queued or computing) against a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.refused_since_log = 0
        self.last_log = -REFUSAL_LOG_INTERVAL_S

    def try_admit(self) -> bool:
        if self.in_flight >= self.limit:
            self._note_refusal()
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

    def _note_refusal(self) -> None:
        """One warning per interval, with the count, rather than a line per refusal."""
        self.refused_since_log += 1
        now = time.monotonic()
        if now - self.last_log >= REFUSAL_LOG_INTERVAL_S:
            logger.warning(
                "At capacity (%d requests in flight): refused %d request(s) with 429 since the last report",
                self.limit,
                self.refused_since_log,
            )
            self.refused_since_log = 0
            self.last_log = now


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, admission: AdmissionControl, metrics: ServiceMetrics) -> None:
        self.app = app
        self.admission = admission
        self.metrics = metrics
        message = f"The server is at capacity ({admission.limit} requests in flight); retry after a second."
        self.refusal_body = json.dumps({"message": message}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not self.admission.try_admit():
            self.metrics.refused_requests.inc()
            await self._refuse(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release()

    async def _refuse(self, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.refusal_body)).encode()),
            (b"retry-after", b"1"),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": self.refusal_body})
