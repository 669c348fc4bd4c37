"""What a request must pass before it reaches the engine: auth, admission, body size."""

import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from app.errors import InvalidRequestError, PayloadTooLargeError, TooManyRequestsError, UnauthorizedError


def check_api_key(authorization: str | None, api_key: str | None) -> None:
    """With API_KEY set, require `Authorization: Bearer <key>`, compared in constant time."""
    if api_key is None:
        return
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), api_key.encode()):
        raise UnauthorizedError("Missing or wrong API key: send the header 'Authorization: Bearer <key>'.")


class AdmissionControl:
    """At most `limit` requests in flight (queued or computing); the next one is refused at once.

    A refusal beats a queue that grows without bound: the client learns in a millisecond that it
    should retry or go elsewhere, instead of timing out.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise TooManyRequestsError(
                f"The server is at capacity ({self.limit} requests in flight); retry after a second."
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


async def read_json_body(request: Request, max_bytes: int) -> object:
    """Decode the body as JSON, refusing one over max_bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"The body is {declared} bytes; the limit is {max_bytes}.")
    chunks = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLargeError(f"The body is over the limit of {max_bytes} bytes.")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"The body is not valid JSON: {exc}") from exc
