"""An infer response: plain JSON, or, when any output is asked for in binary, the JSON header
followed by those outputs' bytes in header order, with `Inference-Header-Content-Length`."""

import json
from typing import Any

from fastapi import Response

from app.serving.open_inference.codec import HEADER_LENGTH
from app.serving.open_inference_core.elements import Tensor, encode_binary, json_values
from app.serving.open_inference_core.requests import RequestedOutput


def infer_response(
    header: dict[str, Any], tensors: dict[str, Tensor], requested: list[RequestedOutput]
) -> Response:
    """`header` holds model_name, model_version, id and parameters; outputs are added in the
    order they were asked for."""
    outputs = []
    binary_parts = []
    for output in requested:
        tensor = tensors[output.name]
        described: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        if output.binary:
            data = encode_binary(tensor)
            described["parameters"] = {"binary_data_size": len(data)}
            binary_parts.append(data)
        else:
            described["data"] = json_values(tensor)
        outputs.append(described)
    body = json.dumps({**header, "outputs": outputs}, separators=(",", ":")).encode("utf-8")
    if not binary_parts:
        return Response(body, media_type="application/json")
    return Response(
        b"".join([body, *binary_parts]),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(body))},
    )
