"""Every task's real model path under odd and fuzzed bodies: a 2xx or a clear 4xx, never a 5xx."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.serving.azure.test_robustness import ODD_INPUTS, assert_never_5xx, json_values

TASK_CHECKPOINTS = ["text-classification", "token-classification", "question-answering", "pretraining"]
COLUMN_NAMES = [
    "input_string",
    "text",
    "text_pair",
    "tokens",
    "question",
    "context",
    "sentence1",
    "sentence2",
]


@pytest.fixture(scope="module", params=TASK_CHECKPOINTS)
def task_client(request: pytest.FixtureRequest, tiny_task_dir: Callable[[str], Path]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(tiny_task_dir(request.param))))) as client:
        wait_until_ready(client)
        yield client


def test_odd_texts_in_every_column_are_answered_without_5xx(task_client: TestClient) -> None:
    odd = list(ODD_INPUTS.values())
    for body in (
        {"input_data": {"input_string": odd}},
        {"input_data": {"sentence1": odd, "sentence2": odd[::-1]}},
        {"input_data": {"question": odd, "context": odd[::-1]}},
        {"input_data": {"tokens": [text.split() or ["x"] for text in odd]}},
        {"input_data": {"columns": ["question", "context"], "data": [[text, text] for text in odd]}},
    ):
        response = task_client.post("/score", json=body)
        # 413: a pair of the 100 KB text with itself is over MAX_INPUT_CHARACTERS
        assert response.status_code in (200, 400, 413), response.text
        if response.status_code == 200:
            assert len(response.json()) == len(odd)


cells = st.text(max_size=40) | st.lists(st.text(max_size=8), max_size=4) | json_values
columns = st.dictionaries(st.sampled_from(COLUMN_NAMES), st.lists(cells, max_size=4) | cells, max_size=3)
split_form = st.fixed_dictionaries(
    {
        "columns": st.lists(st.sampled_from(COLUMN_NAMES), max_size=3) | json_values,
        "data": st.lists(st.lists(cells, max_size=3), max_size=3) | json_values,
    },
    optional={"index": json_values},
)
parameters = st.dictionaries(
    st.sampled_from(["top_k", "max_answer_len", "doc_stride", "x"]),
    st.integers(-2, 600) | json_values,
    max_size=2,
)
task_bodies = st.fixed_dictionaries(
    {"input_data": columns | split_form | st.lists(cells, max_size=4)}, optional={"parameters": parameters}
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=task_bodies)
def test_fuzz_every_task_gets_2xx_or_4xx(task_client: TestClient, body: Any) -> None:
    assert_never_5xx(task_client, json.dumps(body).encode())
