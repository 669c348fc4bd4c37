"""The proof on real weights, through real clients: for 240 varied texts (short, long, non-ASCII,
over the length limit, truncated as AUTO_TRUNCATE asks), every protocol's embedding equals
`SentenceTransformer.encode`, and every similarity equals the library's cosine.

Clients as people run them against a live server: the `openai` package, huggingface_hub's
InferenceClient, and plain HTTP in TEI's, Azure's, Open Inference's and KServe's documented shapes.
"""

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.live_server import live_server
from tests.minilm import minilm_folder, varied_texts

pytestmark = pytest.mark.e2e

MINILM = minilm_folder()
TEXTS = varied_texts(240)
FEW = TEXTS[::12]  # 20 texts of every form, for the protocols that add no code of their own
NAME = "minilm"


@pytest.fixture(scope="module")
def library() -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(MINILM), device="cpu")


@pytest.fixture(scope="module")
def reference(library: object) -> np.ndarray:
    vectors: np.ndarray = library.encode(TEXTS, convert_to_numpy=True, batch_size=32)  # type: ignore[attr-defined]
    return vectors


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with live_server(model_id=str(MINILM), model_name=NAME, auto_truncate=True) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=120) as client:
        yield client


def assert_same(vectors: object, expected: np.ndarray) -> None:
    ours = np.asarray(vectors, dtype=np.float64)
    assert ours.shape == expected.shape
    cosines = (ours * expected).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.99999
    assert np.abs(ours - expected).max() <= 1e-5


def rows(texts: list[str]) -> list[int]:
    return [TEXTS.index(text) for text in texts]


def test_tei_embed_equals_the_library_on_every_text(http: httpx.Client, reference: np.ndarray) -> None:
    answer = http.post("/embed", json={"inputs": TEXTS})
    assert answer.status_code == 200, answer.text
    assert_same(answer.json(), reference)


def test_openai_client_float_and_base64(url: str, reference: np.ndarray) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="unused")
    for encoding in ("float", "base64"):
        answer = client.embeddings.create(model=NAME, input=TEXTS, encoding_format=encoding)  # type: ignore[arg-type]
        assert [item.index for item in answer.data] == list(range(len(TEXTS)))
        vectors = [
            np.frombuffer(base64.b64decode(item.embedding), dtype="<f4")
            if encoding == "base64"
            else item.embedding
            for item in answer.data
        ]
        assert_same(vectors, reference)
    by_default = client.embeddings.create(model=NAME, input=FEW)  # the client asks for base64 and decodes it
    assert_same([item.embedding for item in by_default.data], reference[rows(FEW)])


def test_inference_client_feature_extraction_and_similarity(
    url: str, library: object, reference: np.ndarray
) -> None:
    from huggingface_hub import InferenceClient
    from sentence_transformers import util

    client = InferenceClient(model=url)
    for text in FEW[:6]:
        assert_same(client.feature_extraction(text), reference[rows([text])])
    source, others = FEW[0], FEW[1:]
    scores = client.sentence_similarity(source, other_sentences=others)
    expected = util.cos_sim(reference[rows([source])], reference[rows(others)])[0].numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_tei_similarity_equals_the_library_cosine(http: httpx.Client, reference: np.ndarray) -> None:
    from sentence_transformers import util

    source, others = TEXTS[0], TEXTS[1:60]
    body = {"inputs": {"source_sentence": source, "sentences": others}}
    scores = http.post("/similarity", json=body).json()
    expected = util.cos_sim(reference[:1], reference[1:60])[0].numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_azure_score_answers_the_vectors(http: httpx.Client, reference: np.ndarray) -> None:
    records = http.post("/score", json={"input_data": {"input_string": FEW}}).json()
    assert_same([record["0"] for record in records], reference[rows(FEW)])
    plain = http.post("/score", json={"input_data": FEW[:3]}).json()
    assert_same(plain, reference[rows(FEW[:3])])


def test_open_inference_answers_an_fp32_tensor(http: httpx.Client, reference: np.ndarray) -> None:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(FEW)], "data": FEW}]}
    answer = http.post(f"/v2/models/{NAME}/infer", json=body).json()
    (output,) = answer["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("embedding", "FP32", [len(FEW), 384])
    assert_same(np.array(output["data"]).reshape(len(FEW), 384), reference[rows(FEW)])
    metadata = http.get(f"/v2/models/{NAME}").json()
    assert [tensor["name"] for tensor in metadata["outputs"]] == ["embedding"]


def test_kserve_v1_predictions_are_the_vectors(http: httpx.Client, reference: np.ndarray) -> None:
    answer = http.post(f"/v1/models/{NAME}:predict", json={"instances": FEW}).json()
    assert_same(answer["predictions"], reference[rows(FEW)])
