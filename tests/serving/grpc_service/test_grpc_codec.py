"""The gRPC codec without a server: ModelInferRequest read into /v2's DecodedRequest (every
malformed part named), the outputs written raw, and the one table of status codes."""

import struct
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from app.errors import STATUS_BY_ERROR, InvalidRequestError
from app.serving.grpc_service.generated import open_inference_pb2 as pb
from app.serving.grpc_service.status_codes import GRPC_CODE_BY_STATUS, grpc_code_for
from app.serving.grpc_service.tensors import decode_infer_request, infer_response_message
from app.serving.open_inference_core.elements import Tensor, decode_bytes_elements
from bench.server_process import ROOT, free_port


def raw(*texts: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(text)) + text for text in texts)


def request_with(*inputs: pb.ModelInferRequest.InferInputTensor, **fields: object) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(model_name="m", inputs=list(inputs), **fields)  # type: ignore[arg-type]


def text_input(
    shape: list[int], *texts: bytes, datatype: str = "BYTES"
) -> pb.ModelInferRequest.InferInputTensor:
    tensor = pb.ModelInferRequest.InferInputTensor(name="text", datatype=datatype, shape=shape)
    tensor.contents.bytes_contents.extend(texts)
    return tensor


def test_typed_and_raw_inputs_read_alike_with_the_parameters() -> None:
    typed = request_with(text_input([2], b"a [MASK].", "\u00e9 [MASK]".encode()))
    typed.parameters["top_k"].int64_param = 3
    typed.parameters["timeout"].int64_param = 2_000
    decoded = decode_infer_request(typed)
    assert decoded.texts == {"text": ["a [MASK].", "\u00e9 [MASK]"]}
    assert (decoded.parameters, decoded.timeout_us, decoded.outputs) == ({"top_k": 3}, 2_000, None)
    raw_request = request_with(
        pb.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[2, 1]),
        raw_input_contents=[raw(b"a [MASK].", "\u00e9 [MASK]".encode())],
    )
    assert decode_infer_request(raw_request).texts == decoded.texts


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        (request_with(text_input([1], b"x", datatype="FP32")), "Input 'text' must be BYTES"),
        (request_with(text_input([3], b"x", b"y")), "shape [3], so 3 elements; its data holds 2"),
        (request_with(text_input([1, 2], b"x", b"y")), "must have shape [N] (or [N, 1])"),
        (request_with(text_input([1], b"\xff")), "Input 'text': element 0 is not UTF-8"),
        (request_with(text_input([0])), "Input 'text' is empty"),
        (request_with(text_input([1], b"x"), text_input([1], b"y")), "Input 'text' is given twice"),
        (
            request_with(text_input([1], b"x"), raw_input_contents=[raw(b"x")]),
            "has 'contents' while the request sends 'raw_input_contents'",
        ),
        (
            request_with(
                pb.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[1]),
                raw_input_contents=[raw(b"x"), raw(b"y")],
            ),
            "1 inputs and 2 'raw_input_contents'",
        ),
        (
            request_with(
                pb.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[1]),
                raw_input_contents=[b"\x09\x00\x00\x00abc"],
            ),
            "element 0 says it is 9 bytes long",
        ),
    ],
)
def test_every_malformed_part_is_refused_naming_it(request_: pb.ModelInferRequest, named: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        decode_infer_request(request_)
    assert named in refused.value.message


def test_the_classification_extension_and_a_bad_timeout_are_refused() -> None:
    asking = request_with(text_input([1], b"x"))
    asking.outputs.add(name="label").parameters["classification"].int64_param = 2
    with pytest.raises(InvalidRequestError, match="classification extension"):
        decode_infer_request(asking)
    late = request_with(text_input([1], b"x"))
    late.parameters["timeout"].string_param = "soon"
    with pytest.raises(InvalidRequestError, match="positive number of microseconds"):
        decode_infer_request(late)


def test_outputs_go_back_raw_in_the_order_asked() -> None:
    tensors = {
        "label": Tensor("label", "BYTES", [2, 1], ["joy", "sadness"]),
        "score": Tensor("score", "FP32", [2, 1], [0.5, 0.25]),
    }
    answer = infer_response_message(pb.ModelInferResponse(model_name="m"), tensors, ["score", "label"])
    assert [(output.name, output.datatype, list(output.shape)) for output in answer.outputs] == [
        ("score", "FP32", [2, 1]),
        ("label", "BYTES", [2, 1]),
    ]
    assert struct.unpack("<2f", answer.raw_output_contents[0]) == (0.5, 0.25)
    assert decode_bytes_elements(answer.raw_output_contents[1], "label") == [b"joy", b"sadness"]


def test_every_error_the_server_answers_has_its_grpc_code() -> None:
    for status in {*STATUS_BY_ERROR.values(), 401, 422}:
        assert status in GRPC_CODE_BY_STATUS, status
    assert grpc_code_for(429) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_code_for(504) is grpc.StatusCode.DEADLINE_EXCEEDED
    assert grpc_code_for(500) is grpc.StatusCode.INTERNAL


@pytest.mark.e2e
def test_a_grpc_port_in_use_stops_the_start_naming_it(tiny_bert_dir: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        for workers in ("1", "2"):
            started = subprocess.run(
                [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
                cwd=ROOT,
                env={
                    "PATH": "/usr/bin:/bin",
                    "MODEL_ID": str(tiny_bert_dir),
                    "GRPC_PORT": str(port),
                    "WORKERS": workers,
                    "HF_HUB_OFFLINE": "1",
                    "COMPILE": "off",
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert started.returncode != 0, workers
            assert "GRPC_PORT" in started.stderr and str(port) in started.stderr, started.stderr[-2000:]
    finally:
        taken.close()


@pytest.mark.e2e
def test_a_connection_that_never_speaks_http2_is_closed_at_the_header_timeout(tiny_bert_dir: Path) -> None:
    """A hostile client's silent connections cost it, not the server: closed as HTTP's would be."""
    import socket
    import time

    import tritonclient.grpc as triton_grpc

    from tests.live_server import live_server

    port = free_port()
    with live_server(model_id=str(tiny_bert_dir), grpc_port=port, header_timeout_ms=500):
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        started = time.monotonic()
        for connection in silent:
            connection.settimeout(10)
            received = b""
            while chunk := connection.recv(4096):  # the server's SETTINGS, then GOAWAY, then EOF
                received += chunk
            assert b"handshake timeout" in received  # GOAWAY's debug data
        assert time.monotonic() - started < 8
        assert triton_grpc.InferenceServerClient(f"127.0.0.1:{port}").is_server_ready()
        for connection in silent:
            connection.close()
