"""Next-sentence prediction over HTTP equals the softmax of BertForNextSentencePrediction's
logits (the oracle), from an NSP checkpoint and from a pre-training one that also fills masks."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.task_inputs import long_text, sentences

SCORE_TOLERANCE = 1e-4
FIRSTS = [*sentences(55, seed=41), long_text(600, seed=7)]
SECONDS = [*sentences(55, seed=42), long_text(300, seed=8)]


def client_for(directory: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(directory)))) as client:
        wait_until_ready(client)
        yield client


@pytest.fixture(scope="module", params=["next-sentence-prediction", "pretraining"])
def checkpoint(request: pytest.FixtureRequest, tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir(request.param)


@pytest.fixture(scope="module")
def nsp_client(checkpoint: Path) -> Iterator[TestClient]:
    yield from client_for(checkpoint)


@pytest.fixture(scope="module")
def oracle(checkpoint: Path) -> Callable[[str, str], list[float]]:
    from transformers import AutoTokenizer, BertForNextSentencePrediction

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = BertForNextSentencePrediction.from_pretrained(checkpoint).eval()

    def probabilities(first: str, second: str) -> list[float]:
        encoding = tokenizer(first, second, truncation=True, max_length=512, return_tensors="pt")
        with torch.inference_mode():
            scores: list[float] = model(**encoding).logits[0].softmax(-1).tolist()
        return scores

    return probabilities


def test_labels_equal_the_softmax_of_the_nsp_logits(nsp_client: TestClient, oracle: Any) -> None:
    body = {"input_data": {"sentence1": FIRSTS, "sentence2": SECONDS}}
    response = nsp_client.post("/score", json=body)
    assert response.status_code == 200
    expected = [oracle(a, b) for a, b in zip(FIRSTS, SECONDS, strict=True)]
    assert response.json() == [{"0": "IsNext" if p[0] >= p[1] else "NotNext"} for p in expected]
    assert len({answer["0"] for answer in response.json()}) == 2


def test_top_k_gives_both_labels_with_scores(nsp_client: TestClient, oracle: Any) -> None:
    rows = [[a, b] for a, b in zip(FIRSTS[:10], SECONDS[:10], strict=True)]
    body = {"input_data": {"columns": ["sentence1", "sentence2"], "data": rows}, "parameters": {"top_k": 2}}
    for (first, second), ranked in zip(rows, nsp_client.post("/score", json=body).json(), strict=True):
        scores = dict(zip(["IsNext", "NotNext"], oracle(first, second), strict=True))
        assert {entry["label"] for entry in ranked} == {"IsNext", "NotNext"}
        assert ranked[0]["score"] >= ranked[1]["score"]
        for entry in ranked:
            assert entry["score"] == pytest.approx(scores[entry["label"]], abs=SCORE_TOLERANCE)


def test_ready_reports_every_task_the_weights_answer(nsp_client: TestClient, checkpoint: Path) -> None:
    tasks = nsp_client.get("/health/ready").json()["tasks"]
    if checkpoint.name.startswith("tiny-pretraining"):
        assert tasks == ["fill-mask", "next-sentence-prediction"]
    else:
        assert tasks == ["next-sentence-prediction"]


def test_a_pretraining_checkpoint_fills_masks_from_the_same_weights(
    tiny_task_dir: Callable[[str], Path],
) -> None:
    from transformers import pipeline

    directory = tiny_task_dir("pretraining")
    oracle = pipeline("fill-mask", model=str(directory), device="cpu")
    texts = sentences(10, seed=43)
    texts = [f"{text} [MASK] ." for text in texts]
    for client in client_for(directory):
        answers = client.post("/score", json={"input_data": {"input_string": texts}}).json()
        assert answers == [{"0": oracle(text, top_k=1)[0]["token_str"]} for text in texts]


def test_a_masked_lm_without_the_nsp_head_says_so(tiny_bert_client: httpx.Client) -> None:
    body = {"input_data": {"sentence1": ["a"], "sentence2": ["b"]}}
    response = tiny_bert_client.post("/score", json=body)
    assert response.status_code == 400
    assert "no next-sentence-prediction head" in response.json()["message"]
