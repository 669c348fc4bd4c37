"""Tensor elements, whatever carries them: the binary form of Triton's `binary_protocol.md`
(little-endian, row-major, BYTES elements each a 4-byte unsigned length and the bytes), which REST's
binary tensor data and gRPC's raw contents share, and JSON `data`. Pure functions over bytes and
lists, so malformed input is easy to test exhaustively."""

import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.errors import InvalidRequestError

Datatype = Literal["BYTES", "FP32", "INT64"]
LENGTH_PREFIX = struct.Struct("<I")
ARRAY_CODES: dict[Datatype, str] = {"FP32": "f", "INT64": "q"}


@dataclass(frozen=True)
class Tensor:
    """An output: its values flat, in row-major order."""

    name: str
    datatype: Datatype
    shape: list[int]
    values: list[Any]


def decode_bytes_elements(raw: bytes, where: str) -> list[bytes]:
    """The elements of a binary BYTES tensor, each checked to lie inside `raw`."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + LENGTH_PREFIX.size > len(raw):
            raise InvalidRequestError(
                f"{where}: element {len(elements)} is cut off inside its 4-byte length prefix."
            )
        (length,) = LENGTH_PREFIX.unpack_from(raw, offset)
        offset += LENGTH_PREFIX.size
        if offset + length > len(raw):
            raise InvalidRequestError(
                f"{where}: element {len(elements)} says it is {length} bytes long; "
                f"only {len(raw) - offset} bytes of the tensor remain."
            )
        elements.append(raw[offset : offset + length])
        offset += length
    return elements


def decode_utf8(elements: list[bytes], where: str) -> list[str]:
    texts = []
    for index, element in enumerate(elements):
        try:
            texts.append(element.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(f"{where}: element {index} is not UTF-8 text ({exc.reason}).") from None
    return texts


def flatten(data: list[Any]) -> list[Any]:
    """JSON tensor data may be flat or nested row-major; either way, the elements in order."""
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def encode_binary(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        encoded = [str(value).encode("utf-8") for value in tensor.values]
        return b"".join(LENGTH_PREFIX.pack(len(element)) + element for element in encoded)
    numbers = array(ARRAY_CODES[tensor.datatype], tensor.values)
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers.tobytes()


def json_values(tensor: Tensor) -> list[Any]:
    """FP32 values rounded to float32, so JSON and binary answers hold the same numbers."""
    if tensor.datatype == "FP32":
        return array("f", tensor.values).tolist()
    return list(tensor.values)


def element_count(shape: Sequence[int]) -> int:
    count = 1
    for dimension in shape:
        count *= dimension
    return count
