"""ModelInferRequest and ModelInferResponse, read into and written from what /v2's REST codec uses:
the same `DecodedRequest` (texts by input name, the task's parameters, the outputs asked for, the
client's timeout) and the same output `Tensor`s. Texts come typed (`contents.bytes_contents`) or raw
(`raw_input_contents`, each element a 4-byte little-endian length and its bytes); outputs go back raw
(`raw_output_contents`), as Triton answers, which tritonclient and KServe's client both read."""

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidRequestError
from app.serving.grpc_service.generated import open_inference_pb2 as pb
from app.serving.open_inference_core.elements import Tensor, decode_bytes_elements, decode_utf8, encode_binary
from app.serving.open_inference_core.requests import (
    DecodedRequest,
    checked_count,
    requested_output,
    split_parameters,
)


def parameter_values(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A map of InferParameter (or ModelRepositoryParameter) as plain values: each holds one of
    bool, int, str, float or bytes."""
    values = {}
    for name, parameter in parameters.items():
        kind = parameter.WhichOneof("parameter_choice")
        values[name] = None if kind is None else getattr(parameter, kind)
    return values


def decode_infer_request(request: pb.ModelInferRequest) -> DecodedRequest:
    parameters, _, timeout_us = split_parameters(parameter_values(request.parameters))
    texts = _input_texts(request)
    outputs = None
    if request.outputs:
        outputs = [
            requested_output(output.name, parameter_values(output.parameters), True)
            for output in request.outputs
        ]
    return DecodedRequest(request.id or None, texts, parameters, outputs, True, timeout_us)


def _input_texts(request: pb.ModelInferRequest) -> dict[str, list[str]]:
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidRequestError(
            f"The request has {len(request.inputs)} inputs and {len(raw)} 'raw_input_contents': "
            "send one raw content per input, or none."
        )
    texts: dict[str, list[str]] = {}
    for index, tensor in enumerate(request.inputs):
        where = f"Input '{tensor.name}'"
        if tensor.name in texts:
            raise InvalidRequestError(f"{where} is given twice.")
        if tensor.datatype != "BYTES":
            got = tensor.datatype or "none"
            raise InvalidRequestError(f"{where} must be BYTES (UTF-8 strings); got {got}.")
        if raw:
            if tensor.HasField("contents"):
                raise InvalidRequestError(
                    f"{where} has 'contents' while the request sends 'raw_input_contents': send one."
                )
            elements = decode_bytes_elements(raw[index], where)
        else:
            elements = list(tensor.contents.bytes_contents)
        texts[tensor.name] = checked_count(list(tensor.shape), decode_utf8(elements, where), where)
    return texts


def infer_response_message(
    header: pb.ModelInferResponse, tensors: dict[str, Tensor], names: list[str]
) -> pb.ModelInferResponse:
    """`header` holds model_name, model_version, id and parameters; the outputs named are added in
    that order."""
    for name in names:
        tensor = tensors[name]
        header.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        header.raw_output_contents.append(encode_binary(tensor))
    return header
