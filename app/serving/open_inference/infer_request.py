"""An infer request's body, JSON or JSON header plus binary tensor data, read into named lists of
texts, the task's parameters and the outputs asked for. Every malformed part is a 400 naming it.
"""

from pydantic import ValidationError

from app.errors import InvalidRequestError
from app.serving.open_inference.codec import HEADER_LENGTH, split_body
from app.serving.open_inference.wire import InferenceRequest, RequestInput
from app.serving.open_inference_core.elements import decode_bytes_elements, decode_utf8, flatten
from app.serving.open_inference_core.requests import (
    DecodedRequest,
    checked_count,
    requested_output,
    split_parameters,
)
from app.serving.validation import json_type


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
