"""Extractive QA over HTTP equals run_qa's post-processing, written again here independently on
BertForQuestionAnswering's logits (the oracle), on contexts shorter and longer than the model reads."""

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.task_inputs import long_text, sentences

SCORE_TOLERANCE = 1e-4
QUESTIONS = sentences(60, seed=31, min_words=2, max_words=12)
CONTEXTS = [
    *sentences(40, seed=32, min_words=5, max_words=60),
    *(long_text(random.Random(i).randint(400, 900), seed=100 + i) for i in range(20)),
]


@pytest.fixture(scope="module")
def qa_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("question-answering")


@pytest.fixture(scope="module")
def qa_client(qa_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(qa_dir)))) as client:
        wait_until_ready(client)
        yield client


@pytest.fixture(scope="module")
def run_qa(qa_dir: Path) -> Callable[..., list[tuple[str, float]]]:
    """transformers' examples/pytorch/question-answering: prepare_validation_features (with
    --pad_to_max_length False: padding positions would otherwise compete for the n-best), then
    postprocess_qa_predictions with n_best_size 20, max_answer_length 30, no null answer."""
    from transformers import AutoTokenizer, BertForQuestionAnswering

    tokenizer = AutoTokenizer.from_pretrained(qa_dir)
    model = BertForQuestionAnswering.from_pretrained(qa_dir).eval()

    def predict(
        question: str, context: str, n_best: int = 20, max_answer: int = 30
    ) -> list[tuple[str, float]]:
        features = tokenizer(
            question.lstrip(),
            context,
            truncation="only_second",
            max_length=384,
            stride=128,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        predictions = []
        for index in range(len(features["input_ids"])):
            sequence_ids = features.sequence_ids(index)
            offsets = [
                span if sequence_ids[k] == 1 else None
                for k, span in enumerate(features["offset_mapping"][index])
            ]
            inputs = {
                key: torch.tensor([features[key][index]])
                for key in ("input_ids", "attention_mask", "token_type_ids")
            }
            with torch.inference_mode():
                output = model(**inputs)
            start_logits = output.start_logits[0].numpy()
            end_logits = output.end_logits[0].numpy()
            starts = np.argsort(start_logits)[-1 : -n_best - 1 : -1].tolist()
            ends = np.argsort(end_logits)[-1 : -n_best - 1 : -1].tolist()
            for start in starts:
                for end in ends:
                    if offsets[start] is None or offsets[end] is None:
                        continue
                    if end < start or end - start + 1 > max_answer:
                        continue
                    predictions.append(
                        (float(start_logits[start] + end_logits[end]), offsets[start][0], offsets[end][1])
                    )
        best = sorted(predictions, key=lambda p: p[0], reverse=True)[:n_best]
        if not best:
            return [("", 0.0)]
        scores = np.array([score for score, _, _ in best])
        probabilities = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        return [(context[s:e], float(p)) for (_, s, e), p in zip(best, probabilities, strict=True)]

    return predict


def test_answers_equal_run_qa_post_processing(qa_client: TestClient, run_qa: Any) -> None:
    body = {"input_data": {"question": QUESTIONS, "context": CONTEXTS}}
    response = qa_client.post("/score", json=body)
    assert response.status_code == 200
    answers = [answer["0"] for answer in response.json()]
    expected = [run_qa(q, c)[0][0] for q, c in zip(QUESTIONS, CONTEXTS, strict=True)]
    assert answers == expected
    assert len(set(answers)) > 10


def test_top_k_scores_and_offsets_equal_run_qa(qa_client: TestClient, run_qa: Any) -> None:
    rows = [[q, c] for q, c in zip(QUESTIONS[::6], CONTEXTS[::6], strict=True)]
    body = {
        "input_data": {"columns": ["question", "context"], "index": list(range(len(rows))), "data": rows},
        "parameters": {"top_k": 3},
    }
    for (question, context), spans in zip(rows, qa_client.post("/score", json=body).json(), strict=True):
        expected = run_qa(question, context)[:3]
        assert [span["answer"] for span in spans] == [answer for answer, _ in expected]
        assert [span["score"] for span in spans] == pytest.approx(
            [p for _, p in expected], abs=SCORE_TOLERANCE
        )
        assert all(context[span["start"] : span["end"]] == span["answer"] for span in spans)


def test_one_question_as_strings_gets_a_plain_list(qa_client: TestClient, run_qa: Any) -> None:
    body = {"input_data": {"question": QUESTIONS[0], "context": CONTEXTS[0]}}
    assert qa_client.post("/score", json=body).json() == [run_qa(QUESTIONS[0], CONTEXTS[0])[0][0]]


def test_max_answer_len_limits_the_span(qa_client: TestClient, run_qa: Any) -> None:
    question, context = QUESTIONS[1], CONTEXTS[45]
    body = {"input_data": {"question": [question], "context": [context]}, "parameters": {"max_answer_len": 2}}
    (answer,) = qa_client.post("/score", json=body).json()
    assert answer["0"] == run_qa(question, context, max_answer=2)[0][0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input_data": {"input_string": ["Paris"]}}, "This model answers questions: send 'question' and"),
        ({"input_data": {"question": ["q"]}}, "Missing column 'context'"),
        ({"input_data": {"question": ["q", "r"], "context": ["c"]}}, "differ in length"),
        ({"input_data": {"question": [""], "context": ["c"]}}, "Input 0: 'question' is empty"),
        ({"input_data": {"question": ["q"], "context": [" "]}}, "Input 0: 'context' is empty"),
        ({"input_data": {"question": ["q"], "context": [1]}}, "Input 0: 'context' must be a string"),
        (
            {"input_data": {"question": ["q"], "context": ["c"]}, "parameters": {"doc_stride": "x"}},
            "doc_stride",
        ),
        ({"input_data": {"question": [" ".join(["why"] * 300)], "context": ["c"]}}, "Shorten the question"),
    ],
)
def test_bad_bodies_get_400(qa_client: TestClient, body: Any, fragment: str) -> None:
    response = qa_client.post("/score", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_azure_squad_sample_request_answers_in_azures_shape(qa_client: TestClient, shared: Path) -> None:
    sample = json.loads((shared / "data/datasets/squad/azureml_sample_score.json").read_text())
    response = qa_client.post("/score", json=sample)
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == len(sample["input_data"]["data"])
    for (_, context), answer in zip(sample["input_data"]["data"], answers, strict=True):
        assert set(answer) == {"0"} and answer["0"] in context
