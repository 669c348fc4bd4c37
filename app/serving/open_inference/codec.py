"""An infer request's body on REST: inflated where tritonclient compressed it, and split into its
JSON header and the binary tensor data after it (`Inference-Header-Content-Length`)."""

import zlib

from app.errors import InvalidRequestError, PayloadTooLargeError

HEADER_LENGTH = "Inference-Header-Content-Length"
WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def inflate(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """tritonclient may gzip or deflate a request (`request_compression_algorithm`); the limit on
    the body holds for what it inflates to, so a small bomb cannot grow past it."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in WINDOW_BITS:
        raise InvalidRequestError(
            f"Unsupported Content-Encoding '{content_encoding}'; send gzip, deflate or none."
        )
    inflater = zlib.decompressobj(WINDOW_BITS[encoding])
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidRequestError(f"The {encoding} body cannot be inflated: {exc}.") from None
    if len(inflated) > max_bytes:
        raise PayloadTooLargeError(f"The body inflates to over the limit of {max_bytes} bytes.")
    if not inflater.eof:
        raise InvalidRequestError(f"The {encoding} body is cut short.")
    return inflated


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(the JSON header, the binary tensor data after it)."""
    if header_length is None:
        return body, b""
    if not header_length.strip().isdigit():
        raise InvalidRequestError(f"'{HEADER_LENGTH}' must be a number of bytes; got {header_length!r}.")
    length = int(header_length)
    if not 0 < length <= len(body):
        raise InvalidRequestError(
            f"'{HEADER_LENGTH}' says the JSON header is {length} bytes; the body has {len(body)}."
        )
    return body[:length], body[length:]
