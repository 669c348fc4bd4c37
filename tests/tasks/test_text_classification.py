"""Text classification over HTTP equals transformers' text-classification pipeline (the oracle)."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.task_inputs import long_text, sentences
from tests.tiny_bert import EMOTION_LABELS

SCORE_TOLERANCE = 1e-4
TEXTS = [*sentences(50, seed=11), long_text(700, seed=1), "", "   "]
PAIRS = [
    *zip(sentences(50, seed=12), sentences(50, seed=13), strict=True),
    (long_text(400, seed=2), long_text(400, seed=3)),
]


@pytest.fixture(scope="module")
def classifier_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("text-classification")


@pytest.fixture(scope="module")
def classifier_client(classifier_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(classifier_dir)))) as client:
        wait_until_ready(client)
        yield client


@pytest.fixture(scope="module")
def oracle(classifier_dir: Path) -> Any:
    from transformers import pipeline

    return pipeline("text-classification", model=str(classifier_dir), device="cpu")


def expected(oracle: Any, text: str, pair: str | None = None) -> list[dict[str, Any]]:
    inputs: Any = text if pair is None else {"text": text, "text_pair": pair}
    ranked: list[dict[str, Any]] = oracle(inputs, top_k=None, truncation=True)
    return ranked


def test_ready_reports_the_task_and_the_label_names(classifier_client: TestClient) -> None:
    ready = classifier_client.get("/health/ready").json()
    assert ready["tasks"] == ["text-classification"]
    assert ready["labels"] == EMOTION_LABELS


def test_labels_and_scores_equal_the_pipeline_on_every_input(
    classifier_client: TestClient, oracle: Any
) -> None:
    response = classifier_client.post("/score", json={"input_data": {"input_string": TEXTS}})
    assert response.status_code == 200
    answers = response.json()
    assert answers == [{"0": expected(oracle, text)[0]["label"]} for text in TEXTS]
    assert len({answer["0"] for answer in answers}) > 1, "a random model that always answers one label"

    scored = classifier_client.post("/score", json={"inputs": TEXTS, "parameters": {"top_k": 6}}).json()
    for text, ranked in zip(TEXTS, scored, strict=True):
        reference = expected(oracle, text)
        assert [entry["label"] for entry in ranked] == [entry["label"] for entry in reference]
        assert [entry["score"] for entry in ranked] == pytest.approx(
            [entry["score"] for entry in reference], abs=SCORE_TOLERANCE
        )


def test_two_columns_are_a_sentence_pair(classifier_client: TestClient, oracle: Any) -> None:
    body = {
        "input_data": {
            "columns": ["text", "text_pair"],
            "index": list(range(len(PAIRS))),
            "data": [list(pair) for pair in PAIRS],
        },
        "parameters": {"top_k": 2},
    }
    answers = classifier_client.post("/score", json=body).json()
    for (text, pair), ranked in zip(PAIRS, answers, strict=True):
        reference = expected(oracle, text, pair)[:2]
        assert [entry["label"] for entry in ranked] == [entry["label"] for entry in reference]
        assert ranked[0]["score"] == pytest.approx(reference[0]["score"], abs=SCORE_TOLERANCE)
    single = classifier_client.post("/score", json={"input_data": [list(PAIRS[0])]}).json()
    assert single[0]["label"] == expected(oracle, *PAIRS[0])[0]["label"]


def test_a_plain_list_gets_label_and_score(classifier_client: TestClient, oracle: Any) -> None:
    answers = classifier_client.post("/score", json={"input_data": TEXTS[:3]}).json()
    for text, answer in zip(TEXTS[:3], answers, strict=True):
        reference = expected(oracle, text)[0]
        assert answer["label"] == reference["label"]
        assert answer["score"] == pytest.approx(reference["score"], abs=SCORE_TOLERANCE)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input_data": {"question": ["q"], "context": ["c"]}}, "This model classifies texts"),
        ({"input_data": {"a": ["x"], "b": ["y"], "c": ["z"]}}, "has 3 columns"),
        ({"input_data": {"a": ["x", "y"], "b": ["y"]}}, "differ in length"),
        ({"input_data": {"text": ["x", 3]}}, "Input 1 must be a string; got a number"),
        ({"input_data": {"text": ["x"], "text_pair": [None]}}, "Input 0: 'text_pair' must be a string"),
        ({"input_data": {"text": ["x"]}, "parameters": {"top_k": 0}}, "'top_k' must be an integer"),
        ({"input_data": {"text": ["x"]}, "parameters": {"max_answer_len": 3}}, "Unknown parameter"),
    ],
)
def test_bad_bodies_get_400_naming_the_problem(
    classifier_client: TestClient, body: Any, fragment: str
) -> None:
    response = classifier_client.post("/score", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_azure_emotion_sample_request_answers_label_names(
    classifier_client: TestClient, shared: Path
) -> None:

    sample = json.loads((shared / "data/datasets/emotion/azureml_sample_score.json").read_text())
    response = classifier_client.post("/score", json=sample)
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == len(sample["inputs"]["input_string"])
    assert all(set(answer) == {"0"} and answer["0"] in EMOTION_LABELS for answer in answers)
