"""TEI's /embed, /embed_all and /info, and OpenAI's /v1/embeddings, on the real all-MiniLM-L6-v2:
every route's vectors equal SentenceTransformer.encode; OpenAI's own client reads them unchanged."""

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.minilm import minilm_folder

MINILM = minilm_folder()
TEXTS = [
    "Paris is the capital of France.",
    "Héllo wörld, ça va? 日本語のテキスト 🙂",
    "a",
    " ".join(["The city of Paris is the capital of France."] * 10),
]
LONG = "word " * 400


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(MINILM), device="cpu").encode([*TEXTS, LONG], convert_to_numpy=True)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(MINILM), model_name="minilm"))) as client:
        wait_until_ready(client)
        yield client


def assert_same(vectors: object, expected: np.ndarray) -> None:
    ours = np.array(vectors)
    assert ours.shape == expected.shape
    cosines = (ours * expected).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.99999
    assert np.abs(ours - expected).max() <= 1e-5


def test_embed_equals_sentence_transformers(client: TestClient, reference: np.ndarray) -> None:
    answer = client.post("/embed", json={"inputs": TEXTS})
    assert answer.status_code == 200, answer.text
    assert_same(answer.json(), reference[: len(TEXTS)])
    single = client.post("/embed", json={"inputs": TEXTS[0]}).json()
    assert_same(single, reference[:1])


def test_embed_refuses_an_over_long_input_unless_truncate(client: TestClient, reference: np.ndarray) -> None:
    refused = client.post("/embed", json={"inputs": ["short", LONG]})
    assert refused.status_code == 400
    assert "Input 1" in refused.json()["error"] and "256" in refused.json()["error"]
    truncated = client.post("/embed", json={"inputs": [LONG], "truncate": True})
    assert_same(truncated.json(), reference[-1:])


def test_embed_dimensions_and_normalize(client: TestClient, reference: np.ndarray) -> None:
    short = np.array(client.post("/embed", json={"inputs": TEXTS, "dimensions": 32}).json())
    expected = reference[: len(TEXTS), :32]
    np.testing.assert_allclose(short, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
    bad = client.post("/embed", json={"inputs": "x", "dimensions": 0})
    assert bad.status_code == 400 and "dimensions" in bad.json()["error"]


def test_embed_all_gives_a_vector_per_token(client: TestClient) -> None:
    answer = client.post("/embed_all", json={"inputs": ["Paris is nice.", "a"]}).json()
    assert [len(tokens) for tokens in answer] == [6, 3]  # [CLS] paris is nice . [SEP]; [CLS] a [SEP]
    assert all(len(vector) == 384 for tokens in answer for vector in tokens)


def test_info_describes_the_embedding_model(client: TestClient) -> None:
    info = client.get("/info").json()
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"input": "x", "dimension": 3}, "dimension"),
        ({}, "input"),
        ({"input": 3}, "'input' must be a string, a list of token ids"),
        ({"input": [["a"]]}, "'input' must be a string"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": [[1, 2, 999999]]}, "token ids"),
        ({"input": "word " * 400}, "Input 0"),
    ],
)
def test_openai_errors_are_openai_shaped_and_name_the_field(
    client: TestClient, body: dict, names: str
) -> None:
    answer = client.post("/v1/embeddings", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and names in error["message"]


def test_openai_client_float_and_base64(client: TestClient, reference: np.ndarray) -> None:
    from openai import OpenAI

    openai = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    floats = openai.embeddings.create(model="minilm", input=TEXTS)
    assert [item.index for item in floats.data] == list(range(len(TEXTS)))
    assert_same([item.embedding for item in floats.data], reference[: len(TEXTS)])
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > len(TEXTS)
    packed = client.post("/v1/embeddings", json={"input": TEXTS[:2], "encoding_format": "base64"}).json()
    decoded = [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in packed["data"]]
    assert_same(decoded, reference[:2])
    # Asked for explicitly, the client hands base64 back as it came (by default it asks for base64
    # and decodes it: the first call above).
    raw = openai.embeddings.create(model="minilm", input=TEXTS[:2], encoding_format="base64")
    assert_same(
        [np.frombuffer(base64.b64decode(item.embedding), dtype="<f4") for item in raw.data], reference[:2]
    )
    as_floats = openai.embeddings.create(model="minilm", input=TEXTS[:2], encoding_format="float")
    assert_same([item.embedding for item in as_floats.data], reference[:2])


def test_openai_token_ids_are_taken_as_they_are(client: TestClient) -> None:
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(MINILM)(TEXTS[0])["input_ids"]
    by_ids = client.post("/v1/embeddings", json={"input": ids}).json()["data"][0]["embedding"]
    by_text = client.post("/v1/embeddings", json={"input": TEXTS[0]}).json()["data"][0]["embedding"]
    np.testing.assert_allclose(by_ids, by_text, atol=1e-6)
    assert client.post("/openai/v1/embeddings", json={"input": TEXTS[0]}).status_code == 200


def test_a_fill_mask_model_refuses_embeddings_saying_why(tiny_bert_client: httpx.Client) -> None:
    answer = tiny_bert_client.post("/embed", json={"inputs": "x"})
    assert answer.status_code == 400 and "fills masks" in answer.json()["error"]
