"""TEI's /predict, /rerank, /tokenize, /decode and /similarity in its shapes: predictions equal the
model's logits under TEI's functions, reranking equals sentence-transformers' CrossEncoder, tokens
equal the tokenizer's; every error is `{"error", "error_type"}` naming the field."""

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.minilm import minilm_folder
from tests.tiny_bert import build_tiny_task_model

QUERY = "where is the capital of France ?"
TEXTS = ["Paris is the capital of France .", "the dog sat", "London is a city in England", "red"]


def serve(model_dir: Path, **settings: object) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(model_dir), **settings))) as client:  # type: ignore[arg-type]
        wait_until_ready(client)
        yield client


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-label sequence classifier: what a cross-encoder reranker is."""
    return build_tiny_task_model(
        tmp_path_factory.mktemp("cross-encoder"),
        "text-classification",
        labels=["relevance"],
        initializer_range=0.2,
    )


@pytest.fixture(scope="module")
def reranker(cross_encoder_dir: Path) -> Iterator[TestClient]:
    yield from serve(cross_encoder_dir)


@pytest.fixture(scope="module")
def classifier_dir(tiny_task_dir: Callable[[str], Path]) -> Path:
    return tiny_task_dir("text-classification")


@pytest.fixture(scope="module")
def classifier(classifier_dir: Path) -> Iterator[TestClient]:
    yield from serve(classifier_dir)


@pytest.fixture(scope="module")
def embedder() -> Iterator[TestClient]:
    yield from serve(minilm_folder())


def logits(model_dir: Path, text: str, pair: str | None = None) -> torch.Tensor:
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        return model(**tokenizer(text, pair, return_tensors="pt")).logits[0]


def test_rerank_equals_the_cross_encoder_best_first(reranker: TestClient, cross_encoder_dir: Path) -> None:
    from sentence_transformers import CrossEncoder

    expected = CrossEncoder(str(cross_encoder_dir), device="cpu").predict([(QUERY, text) for text in TEXTS])
    ranks = reranker.post("/rerank", json={"query": QUERY, "texts": TEXTS, "return_text": True}).json()
    assert [rank["index"] for rank in ranks] == list(np.argsort(-expected))
    assert [rank["text"] for rank in ranks] == [TEXTS[rank["index"]] for rank in ranks]
    np.testing.assert_allclose([rank["score"] for rank in ranks], np.sort(expected)[::-1], atol=1e-5)
    raw = reranker.post("/rerank", json={"query": QUERY, "texts": TEXTS[:1], "raw_scores": True}).json()
    assert raw == [
        {"index": 0, "score": pytest.approx(float(logits(cross_encoder_dir, QUERY, TEXTS[0])[0]), abs=1e-5)}
    ]


def test_rerank_refuses_an_over_long_text_unless_truncate(reranker: TestClient) -> None:
    texts = ["red", "the " * 600]
    refused = reranker.post("/rerank", json={"query": QUERY, "texts": texts})
    assert refused.status_code == 400
    assert refused.json()["error_type"] == "validation" and "Input 1" in refused.json()["error"]
    assert (
        reranker.post("/rerank", json={"query": QUERY, "texts": texts, "truncate": True}).status_code == 200
    )


def test_predict_reads_a_pair_as_one_input(classifier: TestClient, classifier_dir: Path) -> None:
    single = classifier.post("/predict", json={"inputs": TEXTS[0]}).json()
    expected = logits(classifier_dir, TEXTS[0]).softmax(-1)
    assert [p["score"] for p in single] == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-5)
    assert len({p["label"] for p in single}) == 6
    pair = classifier.post("/predict", json={"inputs": [QUERY, TEXTS[0]]}).json()
    assert isinstance(pair[0], dict)  # one input's predictions, not two inputs'
    assert pair[0]["score"] == pytest.approx(
        float(logits(classifier_dir, QUERY, TEXTS[0]).softmax(-1).max()), abs=1e-5
    )
    batch = classifier.post(
        "/predict", json={"inputs": [[TEXTS[0]], [QUERY, TEXTS[0]]], "raw_scores": True}
    ).json()
    assert [len(predictions) for predictions in batch] == [6, 6]
    assert batch[1][0]["score"] == pytest.approx(
        float(logits(classifier_dir, QUERY, TEXTS[0]).max()), abs=1e-5
    )


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/predict", {"inputs": [["a", "b", "c"]]}, "'inputs[0]' has 3 strings"),
        ("/predict", {"inputs": 3}, "inputs"),
        ("/rerank", {"query": "q", "texts": []}, "texts"),
        ("/rerank", {"query": "q"}, "texts"),
    ],
)
def test_classifier_routes_name_what_is_wrong(
    classifier: TestClient, path: str, body: dict, names: str
) -> None:
    answer = classifier.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert names in answer.json()["error"] and answer.json()["error_type"] == "validation"


def test_rerank_needs_a_one_label_model(classifier: TestClient) -> None:
    answer = classifier.post("/rerank", json={"query": "q", "texts": ["a"]})
    assert answer.status_code == 400 and "6 labels" in answer.json()["error"]


def test_an_embedding_model_refuses_predict_saying_what_it_does(embedder: TestClient) -> None:
    answer = embedder.post("/predict", json={"inputs": "x"})
    assert answer.status_code == 400 and "embeds texts" in answer.json()["error"]


def test_tokenize_lists_the_tokenizers_tokens_with_their_spans(embedder: TestClient) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    texts = ["Héllo wörld, ça va? 日本", "a"]
    answer = embedder.post("/tokenize", json={"inputs": texts}).json()
    for text, tokens in zip(texts, answer, strict=True):
        assert [token["id"] for token in tokens] == tokenizer(text)["input_ids"]
        assert tokens[0] == {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None}
        for token in tokens[1:-1]:
            assert not token["special"] and token["text"] == text[token["start"] : token["stop"]]
    bare = embedder.post("/tokenize", json={"inputs": "a", "add_special_tokens": False}).json()
    assert [[token["text"] for token in tokens] for tokens in bare] == [["a"]]
    unknown = embedder.post("/tokenize", json={"inputs": "a", "prompt_name": "query"})
    assert unknown.status_code == 400 and "prompt_name 'query'" in unknown.json()["error"]


def test_decode_turns_ids_back_into_text(embedder: TestClient) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    ids = tokenizer(["Paris is nice.", "a b"])["input_ids"]
    assert embedder.post("/decode", json={"ids": ids}).json() == tokenizer.batch_decode(
        ids, skip_special_tokens=True
    )
    kept = embedder.post("/decode", json={"ids": ids[0], "skip_special_tokens": False}).json()
    assert kept == [tokenizer.decode(ids[0])]
    outside = embedder.post("/decode", json={"ids": [[101], [5, 10**7]]})
    assert outside.status_code == 400 and "'ids[1][1]' is 10000000" in outside.json()["error"]


def test_similarity_refuses_no_sentences(embedder: TestClient) -> None:
    answer = embedder.post("/similarity", json={"inputs": {"source_sentence": "a", "sentences": []}})
    assert answer.status_code == 400 and "inputs.sentences" in answer.json()["error"]
