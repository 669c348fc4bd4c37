"""Admission control as a pure ASGI layer: at most `limit` inference requests (every POST) in
flight; the next one is refused with 429 before routing, before its body is read, without a log
line of its own.

A refusal beats a queue that grows without bound: the client learns at once that it should retry
or go elsewhere. Under a flood of clients that retry without waiting, every refusal must cost
next to nothing, or the refusals eat the CPU the admitted requests need. Cheap is not enough on
two cores: clients that resend at once can ask thousands of times a second. So refusals are
paced (GCRA, the token bucket of rate limiters): up to REFUSAL_BURST answered at once, then at
most `refusals_per_s`; a refusal beyond that waits its turn (at most MAX_REFUSAL_DELAY_S),
costing a timer rather than CPU, which holds a client that ignores Retry-After to about the pace
it was asked to keep.
"""

import asyncio
import json
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.serving.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 10.0
REFUSAL_BURST = 64
MAX_REFUSAL_DELAY_S = 2.0
# Azure's /score answers errors as {"message": ...}; the Open Inference Protocol (/v2/...) and
# Hugging Face's task API (POST /) as {"error": ...}.
AZURE_PATHS = ("/score",)


class AdmissionControl:
    """Counts inference requests in flight (queued or computing) against a limit."""

    def __init__(self, limit: int, refusals_per_s: float = 100.0) -> None:
        self.limit = limit
        self.in_flight = 0
        self.refused_since_log = 0
        self.last_log = -REFUSAL_LOG_INTERVAL_S
        self.refusal_interval = 1 / refusals_per_s
        self.next_refusal_at = 0.0  # GCRA's theoretical arrival time of the next refusal

    def try_admit(self) -> bool:
        if self.in_flight >= self.limit:
            self._note_refusal()
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

    def refusal_delay(self) -> float:
        """Seconds this refusal waits before it is sent: 0 within the burst, then its turn."""
        now = time.monotonic()
        tolerance = (REFUSAL_BURST - 1) * self.refusal_interval
        due = max(self.next_refusal_at, now)
        delay = min(max(0.0, due - tolerance - now), MAX_REFUSAL_DELAY_S)
        self.next_refusal_at = min(due, now + tolerance + MAX_REFUSAL_DELAY_S) + self.refusal_interval
        return delay

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
        self.refusal_bodies = {key: json.dumps({key: message}).encode() for key in ("message", "error")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not self.admission.try_admit():
            self.metrics.refused_requests.inc()
            delay = self.admission.refusal_delay()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._refuse(send, self._refusal_body(scope["path"]))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release()

    def _refusal_body(self, path: str) -> bytes:
        return self.refusal_bodies["message" if path in AZURE_PATHS else "error"]

    async def _refuse(self, send: Send, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
