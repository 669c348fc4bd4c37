"""Reading a request's body: its size, and JSON (the API key, admission and the body's deadline
are the pure-ASGI layer in `app.serving.admission`)."""

import json
import re

from fastapi import Request
from starlette.requests import ClientDisconnect

from app.errors import ClientClosedRequestError, InvalidRequestError, PayloadTooLargeError

# JSON's escapes can spell half of a UTF-16 pair alone (\ud800), and json.loads turns the UTF-8 bytes
# of one into one too: a string Python holds but cannot encode, on which a tokenizer fails. Only a
# body with one of these spellings (emoji escaped as pairs among them) is searched for them.
MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


async def read_json_body(request: Request, max_bytes: int) -> object:
    """Decode the body as JSON, refusing one over max_bytes before reading it all, and any string
    in it that is not Unicode text."""
    body = await read_body(request, max_bytes)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"The body is not valid JSON: {exc}") from exc
    if MAYBE_SURROGATE.search(body):
        check_encodable(value)
    return value


def check_encodable(body: object) -> None:
    """A 400 naming the first string (or key) that holds a lone surrogate, by its place in the body.
    Walked with a stack of its own, not by recursion: json.loads accepts nesting nearly as deep as
    Python's recursion limit, and a walk one frame per level deeper would fail on it."""
    pending: list[tuple[object, str]] = [(body, "")]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError as exc:
                raise InvalidRequestError(
                    f"'{where or 'the body'}' is not valid text: character {exc.start} is half of a UTF-16 "
                    f"surrogate pair ({value[exc.start]!r}) without its other half; send UTF-8 text."
                ) from None
        elif isinstance(value, list):
            pending += reversed([(item, f"{where}[{index}]") for index, item in enumerate(value)])
        elif isinstance(value, dict):
            inside: list[tuple[object, str]] = []
            for key, item in value.items():
                shown = key.encode("utf-8", "backslashreplace").decode()  # the message must encode too
                place = f"{where}.{shown}" if where else shown
                inside += [(key, place), (item, place)]
            pending += reversed(inside)


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
