"""Every error on /v2 is the protocol's `{"error": "..."}` with the status /score would give:
malformed tensors 400, auth 401, unknown names 404, limits 413, capacity 429, loading 503,
deadlines 504; fuzzed bodies never a 5xx. A fake fill-mask model keeps these cheap."""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.utils import serialize_byte_tensor

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import until, wait_until_ready
from tests.fakes import FakeFillMaskTask, served

INFER = "/v2/models/fake/infer"
TEXTS = ["Paris is the [MASK] of France.", "The [MASK] sat on the [MASK]."]


def fake_app(fake: FakeFillMaskTask, **overrides: Any) -> FastAPI:
    return create_app(
        Settings(model_id="fake", **overrides), load_model=lambda _: served(fake), on_fatal=lambda: None
    )


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = fake_app(FakeFillMaskTask(), max_inputs_per_request=4, max_payload_bytes=3000, max_top_k=10)
    with TestClient(app) as client:
        wait_until_ready(client)
        yield client


def text_input(texts: list[str], **fields: Any) -> dict[str, Any]:
    return {"name": "text", "shape": [len(texts)], "datatype": "BYTES", **fields}


def binary_request(header: dict[str, Any], tail: bytes) -> tuple[bytes, dict[str, str]]:
    encoded = json.dumps(header).encode()
    return encoded + tail, {"Inference-Header-Content-Length": str(len(encoded))}


def assert_protocol_error(response: httpx.Response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and fragment in body["error"], body


RAW = serialize_byte_tensor(np.array(TEXTS, dtype=object)).item()
BAD_BODIES = {
    "header length beyond the body": (
        b'{"inputs": []}',
        {"Inference-Header-Content-Length": "500"},
        "the body has",
    ),
    "element length beyond its tensor": (
        *binary_request({"inputs": [text_input(TEXTS, parameters={"binary_data_size": len(RAW)})]}, RAW[:-3]),
        "only",
    ),
    "binary sizes short of the body": (
        *binary_request(
            {"inputs": [text_input(TEXTS, parameters={"binary_data_size": len(RAW)})]}, RAW + b"\x00"
        ),
        "add up to",
    ),
    "wrong datatype": (
        json.dumps({"inputs": [text_input(TEXTS, datatype="INT64", data=[1, 2])]}).encode(),
        {},
        "BYTES",
    ),
    "shape mismatch": (
        json.dumps({"inputs": [text_input([*TEXTS, "x"], data=TEXTS)]}).encode(),
        {},
        "shape [3]",
    ),
    "no inputs": (json.dumps({"inputs": []}).encode(), {}, "'inputs'"),
    "unknown input": (
        json.dumps(
            {"inputs": [text_input(TEXTS, data=TEXTS), {**text_input(TEXTS, data=TEXTS), "name": "x"}]}
        ).encode(),
        {},
        "Unknown input 'x'",
    ),
    "input without a mask": (
        json.dumps({"inputs": [text_input(["no mask"], data=["no mask"])]}).encode(),
        {},
        "no mask",
    ),
    "unknown parameter": (
        json.dumps({"inputs": [text_input(TEXTS, data=TEXTS)], "parameters": {"top_n": 2}}).encode(),
        {},
        "Unknown parameter 'top_n' in 'parameters'; supported: top_k",
    ),
    "top_k too large": (
        json.dumps({"inputs": [text_input(TEXTS, data=TEXTS)], "parameters": {"top_k": 11}}).encode(),
        {},
        "from 1 to 10",
    ),
    "unknown output": (
        json.dumps({"inputs": [text_input(TEXTS, data=TEXTS)], "outputs": [{"name": "label"}]}).encode(),
        {},
        "Unknown output 'label'",
    ),
    "not JSON": (b"\xff\xfe", {}, "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_malformed_requests_get_400_in_the_protocols_shape(client: TestClient, case: str) -> None:
    body, headers, fragment = BAD_BODIES[case]
    assert_protocol_error(client.post(INFER, content=body, headers=headers), 400, fragment)


@pytest.mark.parametrize(
    ("method", "path", "fragment"),
    [
        ("GET", "/v2/models/bert/ready", "Unknown model 'bert'; this server serves 'fake'"),
        ("GET", "/v2/models/bert", "Unknown model 'bert'"),
        ("POST", "/v2/models/bert/infer", "Unknown model 'bert'"),
        ("GET", "/v2/models/fake/versions/2", "has no version '2'; it has version 1"),
        ("POST", "/v2/models/fake/versions/2/infer", "has no version '2'"),
        ("GET", "/v2/models/fake/trace/setting", "No route GET /v2/models/fake/trace/setting"),
        ("POST", "/v2/repository/lost", "No route POST"),
    ],
)
def test_unknown_models_versions_and_routes_get_404(
    client: TestClient, method: str, path: str, fragment: str
) -> None:
    assert_protocol_error(client.request(method, path, json={}), 404, fragment)


def test_too_many_inputs_and_too_large_bodies_get_413(client: TestClient) -> None:
    five = ["a [MASK]"] * 5
    assert_protocol_error(
        client.post(INFER, json={"inputs": [text_input(five, data=five)]}), 413, "limit is 4"
    )
    big = ["a [MASK] " + "x" * 3000]
    assert_protocol_error(
        client.post(INFER, json={"inputs": [text_input(big, data=big)]}), 413, "limit is 3000"
    )


def test_infer_needs_the_api_key_when_set_and_health_stays_open() -> None:
    with TestClient(fake_app(FakeFillMaskTask(), api_key="secret")) as client:
        wait_until_ready(client)
        body = {"inputs": [text_input(TEXTS, data=TEXTS)]}
        refused = client.post(INFER, json=body)
        assert_protocol_error(refused, 401, "API key")
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.post(INFER, json=body, headers={"Authorization": "Bearer secret"}).status_code == 200
        for path in (
            "/v2",
            "/v2/health/live",
            "/v2/health/ready",
            "/v2/models/fake",
            "/v2/models/fake/ready",
        ):
            assert client.get(path).status_code == 200, path
        metrics = client.get("/metrics").text
        infer = 'route="/v2/models/{model_name}/infer"'
        assert f'bert_serving_requests_total{{method="POST",{infer},status="200"}} 1.0' in metrics
        assert "bert_serving_requests_unauthorized_total 1.0" in metrics, "refused before routing, counted"


def test_while_the_model_loads_ready_and_infer_get_503_and_live_200() -> None:
    loaded = threading.Event()

    def slow_load(_: Any) -> Any:
        loaded.wait(10)
        return served(FakeFillMaskTask())

    app = create_app(Settings(model_id="fake"), load_model=slow_load, on_fatal=lambda: None)
    with TestClient(app) as client:
        try:
            assert client.get("/v2/health/live").json() == {"live": True}
            for response in (
                client.get("/v2/health/ready"),
                client.get("/v2/models/fake/ready"),
                client.get("/v2/models/fake"),
                client.post(INFER, json={"inputs": [text_input(TEXTS, data=TEXTS)]}),
            ):
                assert_protocol_error(response, 503, "still loading")
        finally:
            loaded.set()
        wait_until_ready(client)
        assert client.get("/v2/models/fake/ready").json() == {"name": "fake", "ready": True}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, and a client that can have several requests in flight."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            await until(lambda: app.state.serving.ready)
            yield client


def test_capacity_refusals_on_v2_are_429_in_the_protocols_shape_and_azures_stay_message() -> None:
    fake = FakeFillMaskTask()
    app = fake_app(fake, max_concurrent_requests=1)
    body = {"inputs": [text_input(TEXTS, data=TEXTS)]}

    async def scenario() -> None:
        async with running(app) as client:
            fake.gate = threading.Event()
            held = asyncio.ensure_future(client.post(INFER, json=body))
            await until(fake.holding.is_set)
            refused = await client.post(INFER, json=body)
            assert_protocol_error(refused, 429, "at capacity")
            assert refused.headers["retry-after"] == "1"
            azure = await client.post("/score", json={"inputs": TEXTS})
            assert azure.status_code == 429 and "message" in azure.json()
            fake.gate.set()
            assert (await held).status_code == 200

    asyncio.run(scenario())


def test_the_clients_timeout_parameter_is_a_deadline_answered_504() -> None:
    fake = FakeFillMaskTask()

    async def scenario() -> None:
        async with running(fake_app(fake)) as client:
            fake.gate = threading.Event()
            try:
                late = await client.post(
                    INFER, json={"inputs": [text_input(TEXTS, data=TEXTS)], "parameters": {"timeout": 50_000}}
                )
                assert_protocol_error(late, 504, "50 ms")
            finally:
                fake.gate.set()

    asyncio.run(scenario())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=200)
    | st.builds(
        lambda header, tail: json.dumps(header).encode() + tail,
        st.fixed_dictionaries(
            {
                "inputs": st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": st.sampled_from(["text", "text_pair", "x"]),
                            "shape": st.lists(st.integers(-1, 4), max_size=3),
                            "datatype": st.sampled_from(["BYTES", "FP32"]),
                            "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-2, 40)}),
                        }
                    ),
                    max_size=3,
                )
            }
        ),
        st.binary(max_size=60),
    ),
    header_length=st.none() | st.integers(-5, 400).map(str),
)
def test_fuzzed_bodies_never_get_a_5xx(client: TestClient, body: bytes, header_length: str | None) -> None:
    headers = {} if header_length is None else {"Inference-Header-Content-Length": header_length}
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert list(response.json()) == ["error"]


def test_openapi_lists_the_v2_routes_under_their_tag_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    v2 = {path: operations for path, operations in spec["paths"].items() if path.startswith("/v2")}
    assert set(v2) == {
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{model_name}",
        "/v2/models/{model_name}/ready",
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}",
        "/v2/models/{model_name}/versions/{model_version}/ready",
        "/v2/models/{model_name}/versions/{model_version}/infer",
        "/v2/models/{model_name}/config",
        "/v2/models/{model_name}/versions/{model_version}/config",
        "/v2/models/stats",
        "/v2/models/{model_name}/stats",
        "/v2/models/{model_name}/versions/{model_version}/stats",
        "/v2/repository/index",
        "/v2/repository/models/{model_name}/load",
        "/v2/repository/models/{model_name}/unload",
    }
    assert all(operation["tags"] == ["v2"] for operations in v2.values() for operation in operations.values())
    body = v2["/v2/models/{model_name}/infer"]["post"]["requestBody"]["content"]
    assert set(body["application/json"]["examples"]) == {"fill-mask", "question-answering"}
    assert "$ref" not in json.dumps(body), "the request schema is inlined, not left dangling"
    errors = v2["/v2/models/{model_name}/infer"]["post"]["responses"]["400"]["content"]["application/json"]
    assert errors["schema"]["$ref"].endswith("/ProtocolError")


def test_model_name_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import build_parser, settings_from

    assert settings_from(build_parser().parse_args(["serve", "--model-name", "bert"])).model_name == "bert"
    monkeypatch.setenv("MODEL_NAME", "from-env")
    assert settings_from(build_parser().parse_args(["serve"])).model_name == "from-env"
    assert settings_from(build_parser().parse_args(["serve", "--model-name", "flag"])).model_name == "flag"


def test_an_unexpected_model_failure_is_a_500_in_the_protocols_shape() -> None:
    fake = FakeFillMaskTask()
    with TestClient(fake_app(fake), raise_server_exceptions=False) as client:
        wait_until_ready(client)
        fake.fail_on_length = len(TEXTS[0])
        body = {"inputs": [text_input(TEXTS[:1], data=TEXTS[:1])]}
        assert_protocol_error(client.post(INFER, json=body), 500, "Internal error while serving the request")
