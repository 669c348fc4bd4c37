"""Traces: a request's span continues the trace its `traceparent` names, with its steps as child
spans and each batch linked; spans received by the SDK's in-memory exporter. And TEI's timing
headers on the inference routes."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.config import Settings
from app.serving.app import create_app
from app.serving.tracing import RequestTracer, tracing_from_environment
from bench.server_process import free_port
from tests.conftest import wait_until_ready
from tests.live_server import live_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
BODY = {"input_data": {"input_string": ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]}}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def tracer_to(exporter: InMemorySpanExporter) -> RequestTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return RequestTracer(provider.get_tracer("tests"), provider)


@pytest.fixture
def traced_client(tiny_bert_dir: Path, exporter: InMemorySpanExporter) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(tiny_bert_dir)), tracer=tracer_to(exporter))) as client:
        wait_until_ready(client)
        exporter.clear()  # the readiness polls' spans
        yield client


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def check_request_tree(spans: tuple[ReadableSpan, ...], request: ReadableSpan, inputs: int) -> None:
    """tokenize, queue, one span per batch (linked to the batch's own span), decode: children of
    the request's span, in that order of time."""
    assert request.context is not None
    children = sorted(
        (
            span
            for span in spans
            if span.parent is not None and span.parent.span_id == request.context.span_id
        ),
        key=lambda span: (span.start_time or 0, span.name != "queue"),
    )
    names = [span.name for span in children]
    assert names[0] == "tokenize" and names[1] == "queue" and names[-1] == "decode", names
    batches = [span for span in children if span.name == "batch"]
    assert batches and set(names[2:-1]) == {"batch"}
    assert all(span.context.trace_id == request.context.trace_id for span in children)  # type: ignore[union-attr]
    assert request.start_time is not None and request.end_time is not None
    assert all(
        request.start_time <= span.start_time <= span.end_time <= request.end_time for span in children
    )  # type: ignore[operator]
    engine_batches = {span.context.span_id: span for span in by_name(spans, "engine batch")}  # type: ignore[union-attr]
    counted = 0
    for batch in batches:
        (link,) = batch.links
        linked = engine_batches[link.context.span_id]  # the batch's own span was exported
        assert linked.context.trace_id != request.context.trace_id  # type: ignore[union-attr]
        assert linked.attributes is not None and batch.attributes is not None
        assert linked.attributes["batch.size"] == batch.attributes["batch.size"] >= 1
        assert linked.attributes["batch.padded_tokens"] >= linked.attributes["batch.size"]  # type: ignore[operator]
        counted += 1
    assert counted >= 1 and inputs >= 1


def test_a_request_span_continues_its_traceparent_with_its_steps_and_batch_link(
    traced_client: TestClient, exporter: InMemorySpanExporter
) -> None:
    answer = traced_client.post("/score", json=BODY, headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 200
    spans = exporter.get_finished_spans()
    (request,) = by_name(spans, "POST /score")
    assert request.kind is SpanKind.SERVER and request.context is not None
    assert f"{request.context.trace_id:032x}" == TRACE_ID
    assert request.parent is not None and f"{request.parent.span_id:016x}" == PARENT_ID
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["request.id"] == answer.headers["x-request-id"]
    assert (request.attributes["task"], request.attributes["inputs"]) == ("fill-mask", 2)
    assert "texts" not in request.attributes, "no user text in a span"
    check_request_tree(spans, request, 2)


def test_without_traceparent_a_request_starts_a_trace_and_errors_are_marked(
    traced_client: TestClient, exporter: InMemorySpanExporter
) -> None:
    assert traced_client.post("/score", json={"input_data": {}}).status_code == 400
    assert traced_client.get("/health/live").status_code == 200
    spans = exporter.get_finished_spans()
    (refused,) = by_name(spans, "POST /score")
    assert refused.parent is None and refused.attributes is not None
    assert refused.attributes["http.response.status_code"] == 400
    assert refused.status.status_code is not StatusCode.ERROR  # the client's mistake, not the server's
    assert [
        span.name
        for span in spans
        if span.parent is not None and span.parent.span_id == refused.context.span_id
    ] == []  # type: ignore[union-attr]
    assert by_name(spans, "GET /health/live"), "every request is a span"


def test_a_grpc_call_is_a_span_from_its_traceparent_metadata(
    tiny_bert_dir: Path, exporter: InMemorySpanExporter
) -> None:
    import tritonclient.grpc as triton_grpc

    port = free_port()
    with live_server(model_id=str(tiny_bert_dir), grpc_port=port, tracer=tracer_to(exporter)):
        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
        text = triton_grpc.InferInput("text", [1], "BYTES")
        text.set_data_from_numpy(np.array([b"Paris is the [MASK] of France."], dtype=object))
        client.infer(tiny_bert_dir.name, [text], headers={"traceparent": TRACEPARENT})
    spans = exporter.get_finished_spans()
    (call,) = by_name(spans, "inference.GRPCInferenceService/ModelInfer")
    assert call.context is not None and f"{call.context.trace_id:032x}" == TRACE_ID
    assert call.attributes is not None and call.attributes["rpc.grpc.status_code"] == 0
    check_request_tree(spans, call, 1)


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert tracing_from_environment({}) is None
    tracer = tracing_from_environment(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "x"}
    )
    assert isinstance(tracer, RequestTracer)
    tracer.shutdown()
    with pytest.raises(SystemExit, match="APPLICATIONINSIGHTS_CONNECTION_STRING is set"):
        tracing_from_environment({"APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={'0' * 32}"})


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/score", BODY),
        (
            "/v2/models/{name}/infer",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["A [MASK]."]}]},
        ),
        ("/", {"inputs": "Paris is the [MASK] of France."}),
    ],
)
def test_inference_routes_answer_teis_timing_headers(
    tiny_bert_dir: Path, path: str, body: dict[str, Any]
) -> None:
    with TestClient(create_app(Settings(model_id=str(tiny_bert_dir)))) as client:
        wait_until_ready(client)
        answer = client.post(path.format(name=tiny_bert_dir.name), json=body)
        assert answer.status_code == 200, answer.text
        spent = {
            name: int(answer.headers[f"x-{name}-time"])
            for name in ("compute", "tokenization", "queue", "inference")
        }
        assert all(value >= 0 for value in spent.values())
        assert spent["compute"] >= spent["inference"]
        assert int(answer.headers["x-compute-tokens"]) >= 5
        assert "x-compute-time" not in client.post("/score", json={"input_data": {}}).headers
        assert "x-compute-time" not in client.get("/health/ready").headers


def test_timing_headers_add_up_under_a_wait(tiny_bert_dir: Path) -> None:
    """With MAX_WAIT_MS the batch waits: the queue time shows it."""
    with TestClient(create_app(Settings(model_id=str(tiny_bert_dir), max_wait_ms=50))) as client:
        wait_until_ready(client)
        answer = client.post("/score", json=BODY)
        assert int(answer.headers["x-queue-time"]) >= 40
        assert int(answer.headers["x-compute-time"]) >= int(answer.headers["x-queue-time"])
