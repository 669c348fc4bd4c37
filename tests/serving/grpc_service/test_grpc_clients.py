"""tritonclient.grpc and KServe's InferenceGRPCClient, unchanged, against a running server (one
process, and two front-ends): health, metadata, configuration, infer with BYTES in and out for
fill-mask and a classifier (equal to /v2's REST answers), statistics, the repository, and the
errors as gRPC status codes."""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.utils import InferenceServerException

from bench.server_process import ROOT, free_port
from tests.live_server import SERVER_LAYOUTS, server_in_layout

pytestmark = pytest.mark.e2e

API_KEY = "grpc-test-key"
AUTH = {"authorization": f"Bearer {API_KEY}"}
TEXTS = ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]
KSERVE_CLIENT = Path(__file__).with_name("kserve_grpc_client.py")


class Served(NamedTuple):
    url: str  # HTTP
    grpc: str  # host:port
    name: str


@pytest.fixture(scope="module", params=SERVER_LAYOUTS)
def servers(
    request: pytest.FixtureRequest, tiny_task_dir: Callable[[str], Path]
) -> Iterator[dict[str, Served]]:
    """A masked LM with the NSP head (with model control on) and a classifier, each serving gRPC."""
    with ExitStack() as stack:
        served = {}
        for kind in ("pretraining", "text-classification"):
            checkpoint = tiny_task_dir(kind)
            port = free_port()
            url = stack.enter_context(
                server_in_layout(
                    request.param,
                    model_id=str(checkpoint),
                    api_key=API_KEY,
                    model_control="explicit",
                    grpc_port=port,
                    max_payload_bytes=100_000,
                )
            )
            served[kind] = Served(url, f"127.0.0.1:{port}", checkpoint.name)
        yield served


def inputs_of(texts: dict[str, list[str]]) -> list[triton_grpc.InferInput]:
    tensors = []
    for name, values in texts.items():
        tensor = triton_grpc.InferInput(name, [len(values)], "BYTES")
        tensor.set_data_from_numpy(np.array([value.encode() for value in values], dtype=object))
        tensors.append(tensor)
    return tensors


def rest_infer(
    served: Served, texts: dict[str, list[str]], outputs: list[str], **parameters: Any
) -> dict[str, Any]:
    client = triton_http.InferenceServerClient(served.url.removeprefix("http://"))
    tensors = []
    for name, values in texts.items():
        tensor = triton_http.InferInput(name, [len(values)], "BYTES")
        tensor.set_data_from_numpy(np.array(values, dtype=object))
        tensors.append(tensor)
    result = client.infer(served.name, tensors, parameters=parameters or None, headers=dict(AUTH))
    return {output: result.as_numpy(output) for output in outputs}


def test_health_metadata_and_configuration(servers: dict[str, Served]) -> None:
    served = servers["pretraining"]
    client = triton_grpc.InferenceServerClient(served.grpc)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(served.name) and client.is_model_ready(served.name, "1")
    extensions = client.get_server_metadata(as_json=True)["extensions"]
    assert {"model_repository", "model_configuration", "statistics"} <= set(extensions)
    for unknown in (("bert-base-cased", ""), (served.name, "2")):
        with pytest.raises(InferenceServerException, match=r"StatusCode\.NOT_FOUND"):
            client.is_model_ready(*unknown)
    metadata = client.get_model_metadata(served.name, as_json=True)
    rest = httpx.get(f"{served.url}/v2/models/{served.name}").json()
    assert [(t["name"], t["datatype"]) for t in metadata["outputs"]] == [
        (t["name"], t["datatype"]) for t in rest["outputs"]
    ]
    assert [len(t["shape"]) for t in metadata["outputs"]] == [len(t["shape"]) for t in rest["outputs"]]
    config = client.get_model_config(served.name, as_json=True)["config"]
    rest_config = httpx.get(f"{served.url}/v2/models/{served.name}/config").json()
    assert [(t["name"], t["data_type"]) for t in config["output"]] == [
        (t["name"], t["data_type"]) for t in rest_config["output"]
    ]
    assert config["instance_group"][0]["count"] == rest_config["instance_group"][0]["count"] >= 1
    assert (
        config["dynamic_batching"]["preferred_batch_size"]
        == rest_config["dynamic_batching"]["preferred_batch_size"]
    )
    channel = grpc.insecure_channel(served.grpc)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    channel.close()


def test_fill_mask_and_a_classifier_answer_as_over_rest(servers: dict[str, Served]) -> None:
    for kind, outputs in (
        ("pretraining", ["token_str", "token", "score"]),
        ("text-classification", ["label", "score"]),
    ):
        served = servers[kind]
        client = triton_grpc.InferenceServerClient(served.grpc)
        result = client.infer(served.name, inputs_of({"text": TEXTS}), parameters={"top_k": 3}, headers=AUTH)
        assert result.get_response(as_json=True)["parameters"]["task"]["string_param"] == (
            "fill-mask" if kind == "pretraining" else "text-classification"
        )
        rest = rest_infer(served, {"text": TEXTS}, outputs, top_k=3)
        for output in outputs:
            answer = result.as_numpy(output)
            assert answer.shape == rest[output].shape
            if answer.dtype == object:  # BYTES out: bytes over gRPC, as Triton answers
                assert [value.decode() for value in answer.flat] == [
                    value.decode() if isinstance(value, bytes) else value for value in rest[output].flat
                ]
            else:
                np.testing.assert_allclose(answer, rest[output], atol=1e-6)


def test_next_sentence_prediction_reads_two_inputs(servers: dict[str, Served]) -> None:
    served = servers["pretraining"]
    client = triton_grpc.InferenceServerClient(served.grpc)
    texts = {"text": ["The cat sat."], "text_pair": ["It was tired."]}
    result = client.infer(served.name, inputs_of(texts), headers=AUTH)
    rest = rest_infer(served, texts, ["label", "score"])
    assert [value.decode() for value in result.as_numpy("label").flat] == [
        value.decode() for value in rest["label"].flat
    ]
    np.testing.assert_allclose(result.as_numpy("score"), rest["score"], atol=1e-6)


def test_errors_are_grpc_status_codes_naming_what_is_wrong(servers: dict[str, Served]) -> None:
    served = servers["pretraining"]
    client = triton_grpc.InferenceServerClient(served.grpc)
    text = inputs_of({"text": TEXTS})
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: client.infer(served.name, text), r"UNAUTHENTICATED\] Missing or wrong API key"),
        (
            lambda: client.infer("no-such-model", text, headers=AUTH),
            r"NOT_FOUND\] Unknown model 'no-such-model'",
        ),
        (
            lambda: client.infer(served.name, inputs_of({"text": ["a [MASK]"], "txt": ["b"]}), headers=AUTH),
            r"INVALID_ARGUMENT\].*'txt'",
        ),
        (
            lambda: client.infer(served.name, text, headers=AUTH, parameters={"top_k": 0}),
            r"INVALID_ARGUMENT\].*top_k",
        ),
        (
            lambda: client.infer(served.name, inputs_of({"text": ["x" * 120_000]}), headers=AUTH),
            r"RESOURCE_EXHAUSTED",
        ),
        (lambda: client.infer(served.name, text, headers=AUTH, client_timeout=1e-4), r"DEADLINE_EXCEEDED"),
    ]
    for call, expected in cases:
        with pytest.raises(InferenceServerException, match=expected):
            call()
    wrong_type = triton_grpc.InferInput("text", [1], "FP32")
    wrong_type.set_data_from_numpy(np.array([1.0], dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"INVALID_ARGUMENT\] Input 'text' must be BYTES"):
        client.infer(served.name, [wrong_type], headers=AUTH)
    assert client.infer(served.name, text, headers=AUTH).as_numpy("token_str").shape[0] == 2, "still serving"


def test_statistics_count_the_calls(servers: dict[str, Served]) -> None:
    served = servers["text-classification"]
    client = triton_grpc.InferenceServerClient(served.grpc)

    def stats() -> dict[str, Any]:
        return client.get_inference_statistics(served.name, as_json=True)["model_stats"][0]

    before = stats()
    client.infer(served.name, inputs_of({"text": TEXTS}), headers=AUTH)
    time.sleep(1.2)  # two front-ends: the other's gauges and counters are read from its files
    after = stats()
    count = lambda stats, key: int(stats.get(key, 0))  # noqa: E731 - proto3 JSON leaves zeros out
    assert count(after, "inference_count") == count(before, "inference_count") + 2
    success = lambda stats: int(stats["inference_stats"]["success"].get("count", 0))  # noqa: E731
    assert success(after) == success(before) + 1
    assert int(after["inference_stats"]["compute_infer"]["ns"]) > 0
    every = client.get_inference_statistics(as_json=True)["model_stats"]
    assert [model["name"] for model in every] == [served.name]


def test_repository_index_unload_and_load(servers: dict[str, Served]) -> None:
    served = servers["pretraining"]
    client = triton_grpc.InferenceServerClient(served.grpc)
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
        client.get_model_repository_index()
    index = client.get_model_repository_index(headers=AUTH, as_json=True)["models"]
    assert [(model["name"], model["state"]) for model in index] == [(served.name, "READY")]
    with pytest.raises(InferenceServerException, match=r"INVALID_ARGUMENT\].*configuration or files"):
        client.load_model(served.name, headers=AUTH, config='{"max_batch_size": 8}')
    client.unload_model(served.name, headers=AUTH)
    assert not client.is_model_ready(served.name)
    with pytest.raises(InferenceServerException, match="UNAVAILABLE"):
        client.infer(served.name, inputs_of({"text": TEXTS}), headers=AUTH)
    client.load_model(served.name, headers=AUTH)
    deadline = time.monotonic() + 30
    while not client.is_model_ready(served.name) and time.monotonic() < deadline:  # the other front-end
        time.sleep(0.2)
    assert client.infer(served.name, inputs_of({"text": TEXTS}), headers=AUTH).as_numpy("score").shape[0] == 2


def test_kserves_grpc_client_reads_the_same_answers(servers: dict[str, Served]) -> None:
    """In a process of its own: KServe's client and tritonclient each register the protocol's
    messages under the same names, and protobuf refuses both in one process."""
    served = servers["pretraining"]
    found = subprocess.run(
        [sys.executable, str(KSERVE_CLIENT), served.grpc, served.name, API_KEY, json.dumps(TEXTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(found.stdout.strip().splitlines()[-1])
    assert answer["live"] and answer["ready"] and answer["model_ready"]
    rest = rest_infer(served, {"text": TEXTS}, ["token_str", "score"], top_k=2)
    assert answer["token_str"] == [value.decode() for value in rest["token_str"].flat]
    np.testing.assert_allclose(answer["score"], rest["score"].flatten(), atol=1e-6)
    assert answer["shape"] == list(rest["score"].shape)
