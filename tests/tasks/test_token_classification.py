"""NER over HTTP: one tag per word, read at the word's first sub-token, equal to the argmax of
BertForTokenClassification's logits computed directly here (the oracle)."""

import ast
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.task_inputs import long_text, sentences

SCORE_TOLERANCE = 1e-4
TEXTS = [*sentences(55, seed=21), "  spaced\tout\nwords  ", "one"]


@pytest.fixture(scope="module")
def ner_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("token-classification")


@pytest.fixture(scope="module")
def ner_client(ner_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(ner_dir)))) as client:
        wait_until_ready(client)
        yield client


@pytest.fixture(scope="module")
def oracle(ner_dir: Path) -> Callable[[list[str]], list[tuple[str, float]]]:
    from transformers import AutoTokenizer, BertForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(ner_dir)
    model = BertForTokenClassification.from_pretrained(ner_dir).eval()

    def tags(words: list[str]) -> list[tuple[str, float]]:
        encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
        with torch.inference_mode():
            probabilities = model(**encoding).logits[0].softmax(-1)
        first: dict[int, int] = {}
        for position, word in enumerate(encoding.word_ids()):
            if word is not None and word not in first:
                first[word] = position
        return [
            (
                model.config.id2label[int(probabilities[first[w]].argmax())],
                float(probabilities[first[w]].max()),
            )
            for w in range(len(words))
        ]

    return tags


def test_tags_equal_the_argmax_at_each_words_first_sub_token(ner_client: TestClient, oracle: Any) -> None:
    response = ner_client.post("/score", json={"input_data": {"input_string": TEXTS}})
    assert response.status_code == 200
    answers = [ast.literal_eval(answer["0"]) for answer in response.json()]
    expected = [[tag for tag, _ in oracle(text.split())] for text in TEXTS]
    assert answers == expected
    assert len({tag for tags in answers for tag in tags}) > 2, "a random model that always answers one tag"


def test_the_answer_is_pythons_str_of_the_tag_list(ner_client: TestClient, oracle: Any) -> None:
    answer = ner_client.post("/score", json={"inputs": {"input_string": ["EU rejects German call"]}}).json()
    assert answer == [{"0": str([tag for tag, _ in oracle(["EU", "rejects", "German", "call"])])}]


def test_top_k_gives_per_word_entity_score_and_offsets(ner_client: TestClient, oracle: Any) -> None:
    text = "  Paris is the capital   of France ."
    response = ner_client.post("/score", json={"input_data": [text], "parameters": {"top_k": 1}})
    (words,) = response.json()
    reference = oracle(text.split())
    assert [w["word"] for w in words] == text.split()
    assert [text[w["start"] : w["end"]] for w in words] == text.split()
    assert [w["entity"] for w in words] == [tag for tag, _ in reference]
    assert [w["score"] for w in words] == pytest.approx([s for _, s in reference], abs=SCORE_TOLERANCE)


def test_a_tokens_column_gets_one_tag_per_given_token(ner_client: TestClient, oracle: Any) -> None:
    tokens = [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"]]
    body = {"input_data": {"columns": ["tokens"], "index": [0, 1], "data": [[t] for t in tokens]}}
    answers = [ast.literal_eval(a["0"]) for a in ner_client.post("/score", json=body).json()]
    assert answers == [[tag for tag, _ in oracle(words)] for words in tokens]


def test_every_word_of_a_long_input_gets_a_tag(ner_client: TestClient, oracle: Any) -> None:
    text = long_text(1200, seed=5)  # words of one token each: windows of 510 words
    (answer,) = ner_client.post("/score", json={"input_data": [text]}).json()
    tags = ast.literal_eval(answer)
    words = text.split()
    assert len(tags) == len(words)
    windows = [words[start : start + 510] for start in range(0, len(words), 510)]
    assert tags == [tag for window in windows for tag, _ in oracle(window)]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input_data": {"question": ["q"], "context": ["c"]}}, "This model tags named entities"),
        ({"input_data": {"input_string": [7]}}, "must be a string, or a list of non-empty strings"),
        ({"input_data": {"tokens": [["a", ""]]}}, "must be a string, or a list of non-empty strings"),
        ({"input_data": {"input_string": ["   "]}}, "Input 0 has no words to tag"),
    ],
)
def test_bad_bodies_get_400(ner_client: TestClient, body: Any, fragment: str) -> None:
    response = ner_client.post("/score", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_azure_conll_sample_request_answers_one_tag_per_word(ner_client: TestClient, shared: Path) -> None:
    sample = json.loads((shared / "data/datasets/conll2003/azureml_sample_score.json").read_text())
    response = ner_client.post("/score", json=sample)
    assert response.status_code == 200
    texts = sample["inputs"]["input_string"]
    for text, answer in zip(texts, response.json(), strict=True):
        assert len(ast.literal_eval(answer["0"])) == len(text.split())
