"""Odd and hostile input: every request gets a 2xx or a 4xx, never a 5xx or a crash."""

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.tasks.mask_spelling import MASK_SPELLING
from tests.conftest import SHARED

ODD_INPUTS = {
    "emoji": "I love 🍕🎉 and [MASK] 👍🏽!",
    "right_to_left": "مرحبا [MASK] שלום עולם",
    "control_and_nul": "a\x00b\x07c [MASK]\x1b[31m d\r\n",
    "backslash_quotes": 'she \\\'d said \\"it was [MASK]\\" .',
    "mask_at_start": "[MASK] is the capital of France.",
    "mask_at_end": "Paris is the capital of [MASK]",
    "only_a_mask": "[MASK]",
    "fifty_masks": " ".join(["[MASK]"] * 50),
    "hundred_kilobytes": "the dog ran home . " * 2600 + "[MASK] " + "the cat sat . " * 2600,
    "mask_glued_to_words": "it was w[MASK]okay and[mask]fine",
}


@pytest.mark.parametrize("name", sorted(ODD_INPUTS))
def test_odd_input_is_answered_200(tiny_bert_client: httpx.Client, name: str) -> None:
    text = ODD_INPUTS[name]
    response = tiny_bert_client.post("/score", json={"inputs": [text]})
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    # One top-1 token per mask, joined by "," (a token may itself be a comma, hence >=).
    assert len(answer.split(",")) >= len(MASK_SPELLING.findall(text))


@pytest.mark.parametrize("text", ["", "   \t\n ", "\x00", "[MASK"])
def test_input_without_a_mask_is_answered_400_naming_it(tiny_bert_client: httpx.Client, text: str) -> None:
    response = tiny_bert_client.post("/score", json={"inputs": ["a [MASK]", text]})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Input 1 ")


@pytest.mark.skipif(not (SHARED / "data").is_dir(), reason="../shared is not beside this checkout")
def test_azure_sample_requests_with_escaped_quotes_are_answered(tiny_bert_client: httpx.Client) -> None:
    samples = sorted((SHARED / "data" / "azureml").rglob("*sample_score*.json"))
    assert samples
    for sample in samples:
        response = tiny_bert_client.post("/score", content=sample.read_bytes())
        assert response.status_code in (200, 400), (sample.name, response.text)
        if response.status_code == 400:
            assert "has no mask" in response.json()["message"], sample.name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
texts = st.lists(
    st.text(max_size=30).map(lambda t: t)
    | st.builds(lambda a, b: f"{a}[MASK]{b}", st.text(max_size=15), st.text(max_size=15)),
    max_size=5,
)
parameters = st.dictionaries(st.sampled_from(["top_k", "top_n", "targets"]), json_values, max_size=2)
near_valid_bodies = st.one_of(
    st.fixed_dictionaries(
        {"input_data": st.fixed_dictionaries({"input_string": texts})}, optional={"parameters": parameters}
    ),
    st.fixed_dictionaries({"inputs": texts | json_values}, optional={"params": parameters | json_values}),
    st.dictionaries(
        st.sampled_from(["input_data", "inputs", "parameters", "params", "x"]), json_values, max_size=3
    ),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_never_5xx(client: TestClient, raw: bytes) -> None:
    response = client.post("/score", content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, (raw[:200], response.status_code, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["message"], str)


@FUZZ
@given(body=json_values | near_valid_bodies)
def test_fuzz_any_json_gets_2xx_or_4xx(client: TestClient, body: Any) -> None:
    assert_never_5xx(client, json.dumps(body).encode())


@FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzz_any_bytes_get_2xx_or_4xx(client: TestClient, raw: bytes) -> None:
    assert_never_5xx(client, raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=near_valid_bodies)
def test_fuzz_the_real_model_path_gets_2xx_or_4xx(tiny_bert_client: httpx.Client, body: Any) -> None:
    assert_never_5xx(tiny_bert_client, json.dumps(body).encode())
