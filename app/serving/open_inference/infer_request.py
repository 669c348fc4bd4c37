"""An infer request's body, JSON or JSON header plus binary tensor data, read into named lists of
texts, the task's parameters and the outputs asked for. Every malformed part is a 400 naming it.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.errors import InvalidRequestError
from app.serving.open_inference.codec import (
    HEADER_LENGTH,
    decode_bytes_elements,
    decode_utf8,
    element_count,
    flatten,
    split_body,
)
from app.serving.open_inference.wire import InferenceRequest, RequestInput
from app.serving.validation import json_type

# Request parameters of the protocol itself (tritonclient's reserved ones), not of the task.
BINARY_OUTPUT = "binary_data_output"
TIMEOUT = "timeout"
IGNORED_PARAMETERS = ("priority", "sequence_id", "sequence_start", "sequence_end", "headers")


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True)
class DecodedRequest:
    id: str | None
    texts: dict[str, list[str]]  # input name -> one text per element, in request order
    parameters: dict[str, Any]  # the task's, validated later by its /score parameter model
    outputs: list[RequestedOutput] | None  # None: every output
    binary_output: bool  # the default of outputs not asked for by name
    timeout_us: int | None


def decode_request(body: bytes, header_length: str | None) -> DecodedRequest:
    header, binary = split_body(body, header_length)
    request = _validated(header, has_header_length=header_length is not None)
    texts = _input_texts(request.inputs, binary, header_length is not None)
    parameters, binary_output, timeout_us = split_parameters(request.parameters or {})
    outputs = None
    if request.outputs is not None:
        outputs = [
            requested_output(output.name, output.parameters, binary_output) for output in request.outputs
        ]
    return DecodedRequest(request.id, texts, parameters, outputs, binary_output, timeout_us)


def split_parameters(given: dict[str, Any]) -> tuple[dict[str, Any], bool, int | None]:
    """(the task's parameters, the binary-output default, the client's timeout in µs)."""
    parameters = dict(given)
    binary_output = _flag(parameters.pop(BINARY_OUTPUT, False), f"'parameters.{BINARY_OUTPUT}'")
    timeout_us = _timeout(parameters.pop(TIMEOUT, None))
    for name in IGNORED_PARAMETERS:
        parameters.pop(name, None)
    return parameters, binary_output, timeout_us


def _validated(header: bytes, has_header_length: bool) -> InferenceRequest:
    try:
        return InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "json_invalid":
            reason = error["msg"].removeprefix("Invalid JSON: ")
            if "trailing characters" in reason and not has_header_length:
                reason += f"; binary tensor data after the JSON needs the '{HEADER_LENGTH}' header"
            raise InvalidRequestError(f"The inference request is not valid JSON: {reason}.") from None
        where = ".".join(str(part) for part in error["loc"]) or "the body"
        raise InvalidRequestError(f"Invalid inference request: '{where}': {error['msg']}.") from None


def _input_texts(inputs: list[RequestInput], binary: bytes, has_header_length: bool) -> dict[str, list[str]]:
    """Each input's texts; binary inputs take their `binary_data_size` bytes in input order."""
    texts: dict[str, list[str]] = {}
    offset = 0
    for tensor in inputs:
        where = f"Input '{tensor.name}'"
        if tensor.name in texts:
            raise InvalidRequestError(f"{where} is given twice.")
        if tensor.datatype != "BYTES":
            raise InvalidRequestError(f"{where} must be BYTES (UTF-8 strings); got {tensor.datatype}.")
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            texts[tensor.name] = _json_texts(tensor, where)
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidRequestError(f"{where}: 'binary_data_size' must be a number of bytes; got {size!r}.")
        if tensor.data is not None:
            raise InvalidRequestError(f"{where} has both 'data' and 'binary_data_size': send one.")
        if not has_header_length:
            raise InvalidRequestError(
                f"{where} has 'binary_data_size' but the request has no '{HEADER_LENGTH}' header "
                "saying where the JSON ends."
            )
        if offset + size > len(binary):
            raise InvalidRequestError(
                f"{where}: 'binary_data_size' is {size} bytes; only {len(binary) - offset} bytes of "
                "binary data remain after the JSON header."
            )
        elements = decode_bytes_elements(binary[offset : offset + size], where)
        texts[tensor.name] = checked_count(tensor.shape, decode_utf8(elements, where), where)
        offset += size
    if offset != len(binary):
        raise InvalidRequestError(
            f"The body holds {len(binary)} bytes after the JSON header; the inputs' 'binary_data_size' "
            f"add up to {offset}."
        )
    return texts


def _json_texts(tensor: RequestInput, where: str) -> list[str]:
    if tensor.data is None:
        raise InvalidRequestError(f"{where} has no 'data' (and no 'binary_data_size').")
    values = flatten(tensor.data)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidRequestError(
                f"{where} is BYTES, so its data must be strings; element {index} is {json_type(value)}."
            )
    return checked_count(tensor.shape, values, where)


def checked_count(shape: list[int], values: list[str], where: str) -> list[str]:
    """A text per element: shape [N], or [N, 1] as Triton's batch dimension writes it."""
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise InvalidRequestError(f"{where} must have shape [N] (or [N, 1]): one text each; got {shape}.")
    if len(values) != element_count(shape):
        raise InvalidRequestError(
            f"{where} has shape {shape}, so {element_count(shape)} elements; its data holds {len(values)}."
        )
    if not values:
        raise InvalidRequestError(f"{where} is empty: send at least one text.")
    return values


def requested_output(name: str, parameters: dict[str, Any] | None, binary_default: bool) -> RequestedOutput:
    parameters = parameters or {}
    if "classification" in parameters:
        raise InvalidRequestError(
            f"Output '{name}': the classification extension is not supported; "
            "ask for 'label' and 'score' with parameters.top_k."
        )
    binary = _flag(parameters.get("binary_data", binary_default), f"Output '{name}': 'binary_data'")
    return RequestedOutput(name, binary)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{where} must be true or false; got {value!r}.")
    return value


def _timeout(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(
            f"'parameters.{TIMEOUT}' must be a positive number of microseconds; got {value!r}."
        )
    return value
