"""The gate every POST passes before routing, as a pure ASGI layer: the API key, then admission.

At most `limit` inference requests (every POST) are in flight; the next one is refused with 429
before routing, before its body is read, without a log line of its own. A request holds its slot
only once its body is in: a body still arriving holds a place among MAX_PENDING_BODIES instead, for
at most BODY_TIMEOUT_MS (`app.serving.body_receiver`), so clients that send slowly cost only
themselves, never the slots of those that send at once.

A refusal beats a queue that grows without bound: the client learns at once that it should retry
or go elsewhere. Under a flood of clients that retry without waiting, every refusal must cost
next to nothing, or the refusals eat the CPU the admitted requests need. Cheap is not enough on
two cores: clients that resend at once can ask thousands of times a second. So refusals, 429s and
401s alike, are paced (GCRA, the token bucket of rate limiters): up to REFUSAL_BURST answered at
once, then at most `refusals_per_s`; a refusal beyond that waits its turn (at most
MAX_REFUSAL_DELAY_S), costing a timer rather than CPU, which holds a client that ignores
Retry-After to about the pace it was asked to keep.
"""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import AtCapacityError, azure_error_body
from app.serving.body_receiver import BodyLimits, BodyReceiver
from app.serving.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 10.0
REFUSAL_BURST = 64
MAX_REFUSAL_DELAY_S = 2.0
UNAUTHORIZED = "Missing or wrong API key: send the header 'Authorization: Bearer <key>'."
MAX_REMEMBERED_PATHS = 1024
ErrorShape = Callable[[int, str], dict[str, object]]


class AdmissionControl:
    """Counts inference requests in flight (queued or computing) and bodies arriving, against limits."""

    def __init__(self, limit: int, refusals_per_s: float = 100.0, max_pending_bodies: int = 256) -> None:
        self.limit = limit
        self.at_capacity = f"The server is at capacity ({limit} requests in flight); retry after a second."
        self.in_flight = 0
        self.max_pending_bodies = max_pending_bodies
        self.pending_bodies = 0
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

    def busy_reason(self) -> str | None:
        """Why a new POST is refused before its body is read, or None."""
        if self.in_flight >= self.limit:
            self._note_refusal()
            return self.at_capacity
        if self.pending_bodies >= self.max_pending_bodies:
            self._note_refusal()
            return (
                f"The server is receiving {self.max_pending_bodies} request bodies at once "
                "(MAX_PENDING_BODIES); retry after a second."
            )
        return None

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
                "At capacity (%d requests in flight, or %d bodies arriving): refused %d request(s) with 429 "
                "since the last report",
                self.limit,
                self.max_pending_bodies,
                self.refused_since_log,
            )
            self.refused_since_log = 0
            self.last_log = now


def is_authorized(scope: Scope, api_key: str) -> bool:
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
    return bearer_matches(authorization, api_key)


def bearer_matches(authorization: bytes, api_key: str) -> bool:
    """`Bearer <key>` (an HTTP header, or gRPC's `authorization` metadata), compared in constant time."""
    scheme, _, presented = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(presented.strip(), api_key.encode())


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        admission: AdmissionControl,
        metrics: ServiceMetrics,
        body_limits: BodyLimits,
        api_key: str | None,
        routes: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.admission = admission
        self.metrics = metrics
        self.body_limits = body_limits
        self.api_key = api_key
        self.routes = routes  # to answer a refusal in the shape of the route it was meant for
        self.error_shapes: dict[str, ErrorShape] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.api_key is not None and not is_authorized(scope, self.api_key):
            self.metrics.unauthorized_requests.inc()
            await self._refuse(scope, send, 401, UNAUTHORIZED, (b"www-authenticate", b"Bearer"))
            return
        busy = self.admission.busy_reason()
        if busy is not None:
            self.metrics.refused_requests.inc()
            await self._refuse(scope, send, 429, busy, (b"retry-after", b"1"))
            return
        admitted = False

        def admit() -> None:
            nonlocal admitted
            self.admission.pending_bodies -= 1
            if not self.admission.try_admit():
                self.metrics.refused_requests.inc()
                raise AtCapacityError(self.admission.at_capacity)
            admitted = True

        self.admission.pending_bodies += 1
        receiver = BodyReceiver(receive, self.body_limits, on_complete=admit)
        try:
            await self.app(scope, receiver.receive, send)
        finally:
            if admitted:
                self.admission.release()
            elif not receiver.complete:
                self.admission.pending_bodies -= 1

    async def _refuse(
        self, scope: Scope, send: Send, status: int, message: str, header: tuple[bytes, bytes]
    ) -> None:
        delay = self.admission.refusal_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        body = json.dumps(self._error_shape(scope)(status, message)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            header,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _error_shape(self, scope: Scope) -> ErrorShape:
        """The `error_body` of the route this path leads to (Azure's where it has none), as the app's
        exception handlers would answer; remembered per path, so a flood costs one lookup each."""
        path = scope["path"]
        if path in self.error_shapes:
            return self.error_shapes[path]
        route = next(
            (route for route in leaf_routes(self.routes) if route.matches(scope)[0] is Match.FULL), None
        )
        shape: ErrorShape = getattr(route, "error_body", azure_error_body)
        if len(self.error_shapes) < MAX_REMEMBERED_PATHS:
            self.error_shapes[path] = shape
        return shape


def leaf_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves, inside the wrappers FastAPI puts around an included router's."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from leaf_routes(inner.routes)
        else:
            yield route
