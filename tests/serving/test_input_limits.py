"""Bounded inputs: characters per input and per request are capped (413 naming them), a string that
is not Unicode text is a 400 on every protocol, and large allowed requests never stall the loop."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask
from tests.live_server import live_server
from tests.serving.asgi_clients import fake_app

SURROGATE = "\\ud800 a [MASK]"  # as the JSON escape: a lone half of a UTF-16 pair
# Each route with a body holding SURROGATE, and where in that body it is.
SURROGATE_BODIES = [
    ("/score", '{"inputs": ["ok [MASK]", "%s"]}', "inputs[1]"),
    ("/score", '{"input_data": {"input_string": ["%s"]}}', "input_data.input_string[0]"),
    ("/", '{"inputs": "%s"}', "inputs"),
    ("/models/fake-model", '{"inputs": "%s"}', "inputs"),
    ("/v1/models/fake-model:predict", '{"instances": ["%s"]}', "instances[0]"),
    ("/embed", '{"inputs": ["%s"]}', "inputs[0]"),
    ("/embed_all", '{"inputs": "%s"}', "inputs"),
    ("/similarity", '{"inputs": {"source_sentence": "%s", "sentences": ["a"]}}', "inputs.source_sentence"),
    ("/tokenize", '{"inputs": "%s"}', "inputs"),
    ("/v1/embeddings", '{"input": ["%s"], "model": "fake"}', "input[0]"),
]


@pytest.mark.parametrize(("path", "template", "where"), SURROGATE_BODIES)
def test_a_lone_surrogate_is_a_400_naming_where_it_is_on_every_protocol(
    client: TestClient, path: str, template: str, where: str
) -> None:
    response = client.post(path, content=template % SURROGATE, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert f"'{where}' is not valid text: character 0 is half of a UTF-16 surrogate pair" in response.text


def test_a_lone_surrogate_in_utf8_bytes_or_a_key_and_in_v2_is_a_400_too(client: TestClient) -> None:
    raw = '{"inputs": ["\ud800 a [MASK]"]}'.encode("utf-8", "surrogatepass")
    assert client.post("/score", content=raw).status_code == 400
    key = client.post("/score", content='{"inputs": ["a [MASK]"], "\\udfff": 1}')
    assert key.status_code == 400 and "'\\\\udfff'" in key.text
    v2 = '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["' + SURROGATE + '"]}]}'
    assert client.post("/v2/models/fake-model/infer", content=v2).status_code == 400


def test_a_lone_surrogate_nested_as_deep_as_json_allows_is_still_a_400_naming_it(client: TestClient) -> None:
    depth = 950  # json.loads refuses nesting a little deeper (Python's recursion limit)
    body = '{"inputs": ' + "[" * depth + '"' + SURROGATE + '"' + "]" * depth + "}"
    response = client.post("/score", content=body)
    assert response.status_code == 400
    assert f"'inputs{'[0]' * depth}' is not valid text" in response.json()["message"]


def test_an_emoji_escaped_as_a_pair_is_still_answered(client: TestClient) -> None:
    assert client.post("/score", content='{"inputs": ["\\ud83d\\ude00 a [MASK]"]}').status_code == 200


def test_the_real_model_refuses_a_lone_surrogate_with_400(tiny_bert_client: httpx.Client) -> None:
    response = tiny_bert_client.post("/score", content='{"inputs": ["' + SURROGATE + '"]}')
    assert response.status_code == 400


def test_an_input_over_max_input_characters_is_413_naming_it(fake_model: FakeFillMaskTask) -> None:
    two_megabytes = "word " * 400_000 + "[MASK]"
    with TestClient(fake_app(fake_model, max_payload_bytes=3_000_000)) as client:
        wait_until_ready(client)
        response = client.post("/score", json={"inputs": ["a [MASK]", two_megabytes]})
        assert response.status_code == 413
        message = "Input 1 has 2,000,006 characters; the limit is 100,000 per input (MAX_INPUT_CHARACTERS)."
        assert response.json() == {"message": message}
        tokenize = client.post("/tokenize", json={"inputs": two_megabytes})
        assert tokenize.status_code == 413 and "MAX_INPUT_CHARACTERS" in tokenize.json()["error"]


def test_a_request_over_max_request_characters_is_413(fake_model: FakeFillMaskTask) -> None:
    with TestClient(fake_app(fake_model, max_request_characters=1000)) as client:
        wait_until_ready(client)
        response = client.post("/v1/models/fake:predict", json={"instances": ["x [MASK] " * 60] * 2})
        assert response.status_code == 413
        assert (
            "have 1,080 characters; the limit is 1,000 per request (MAX_REQUEST_CHARACTERS)" in response.text
        )


@pytest.mark.e2e
def test_eight_large_allowed_requests_at_once_leave_liveness_answering_within_a_second(
    tiny_bert_dir: Path,
) -> None:
    words = "the cat sat on a mat and " * 3_900  # 97,500 characters
    body: dict[str, Any] = {"inputs": [words + "[MASK].", "[MASK] " + words]}
    with live_server(model_id=str(tiny_bert_dir), compile="off") as base_url:

        async def scenario() -> tuple[list[int], list[float]]:
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
                large = [asyncio.ensure_future(client.post("/score", json=body)) for _ in range(8)]
                probes = []
                while not all(request.done() for request in large):
                    started = time.monotonic()
                    assert (await client.get("/health/live")).status_code == 200
                    probes.append(time.monotonic() - started)
                    await asyncio.sleep(0.05)
                return [response.status_code for response in await asyncio.gather(*large)], probes

        statuses, probes = asyncio.run(scenario())
    assert statuses == [200] * 8
    assert len(probes) >= 3 and max(probes) < 1.0, probes
