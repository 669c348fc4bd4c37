"""A request's body, received against a deadline and a minimum rate, as Apache's mod_reqtimeout does.

The whole body must arrive within BODY_TIMEOUT_MS of the headers; and, after a grace of
BODY_GRACE_S, at least MIN_BODY_BYTES_PER_S on average, so a client sending a byte every two
seconds is let go within seconds rather than at the deadline. Past either, reading raises
`RequestTimeoutError` (408, the connection closes) into the route, which answers it in its own
protocol's shape like any other error.
"""

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Message, Receive

from app.errors import RequestTimeoutError

BODY_GRACE_S = 2.0


async def within(awaitable: Awaitable[Message], deadline: float) -> Message:
    """`await awaitable`, or TimeoutError at `deadline` (loop time). `asyncio.timeout_at` runs it in
    this task; `wait_for`, Python 3.10's way, makes a task of it, a turn of the loop per message."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout_at(deadline):
            return await awaitable
    return await asyncio.wait_for(awaitable, max(deadline - time.monotonic(), 0))


@dataclass(frozen=True)
class BodyLimits:
    timeout_s: float = 10.0
    min_bytes_per_s: int = 1024


class BodyReceiver:
    """Wraps an ASGI `receive`; `on_complete` runs when the body's last chunk is in (and may raise)."""

    def __init__(self, receive: Receive, limits: BodyLimits, on_complete: Callable[[], None]) -> None:
        self._receive = receive
        self.limits = limits
        self.on_complete = on_complete
        self.started = time.monotonic()
        self.received = 0
        self.complete = False

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()  # past the body: disconnect polls, untouched
        try:
            message = await within(self._receive(), self._deadline())
        except asyncio.TimeoutError:  # TimeoutError itself on 3.11
            raise RequestTimeoutError(self._too_late()) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
                self.on_complete()
        return message

    def _deadline(self) -> float:
        deadline = self.started + self.limits.timeout_s
        if self.limits.min_bytes_per_s:
            deadline = min(deadline, self._rate_deadline())
        return deadline

    def _rate_deadline(self) -> float:
        """When the bytes received so far fall behind the minimum rate."""
        return self.started + BODY_GRACE_S + self.received / self.limits.min_bytes_per_s

    def _too_late(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.limits.min_bytes_per_s and self._rate_deadline() < self.started + self.limits.timeout_s:
            return (
                f"The request's body arrived too slowly: {self.received} bytes in {elapsed:.1f} s, under "
                f"{self.limits.min_bytes_per_s} bytes/s (MIN_BODY_BYTES_PER_S)."
            )
        timeout_ms = round(self.limits.timeout_s * 1000)
        return f"The request's body did not arrive within {timeout_ms} ms (BODY_TIMEOUT_MS)."
