"""What a request must pass before it reaches the engine: auth, body size (admission control is
the pure-ASGI layer in `app.serving.admission`)."""

import hmac
import json

from fastapi import Request
from starlette.requests import ClientDisconnect

from app.errors import ClientClosedRequestError, InvalidRequestError, PayloadTooLargeError, UnauthorizedError


def check_api_key(authorization: str | None, api_key: str | None) -> None:
    """With API_KEY set, require `Authorization: Bearer <key>`, compared in constant time."""
    if api_key is None:
        return
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), api_key.encode()):
        raise UnauthorizedError("Missing or wrong API key: send the header 'Authorization: Bearer <key>'.")


async def read_json_body(request: Request, max_bytes: int) -> object:
    """Decode the body as JSON, refusing one over max_bytes before reading it all."""
    body = await read_body(request, max_bytes)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"The body is not valid JSON: {exc}") from exc


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused (413) past max_bytes by its Content-Length or as the stream passes it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"The body is {declared} bytes; the limit is {max_bytes}.")
    chunks = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise PayloadTooLargeError(f"The body is over the limit of {max_bytes} bytes.")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientClosedRequestError("The client closed the connection while sending the body.") from None
    return b"".join(chunks)
