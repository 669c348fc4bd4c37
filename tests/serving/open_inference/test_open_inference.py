"""tritonclient, unchanged, against a running server for every task: health, metadata and infer
with binary and JSON tensors both ways; answers equal /score's and transformers' pipelines'."""

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from app.config import Settings
from tests.live_server import SERVER_LAYOUTS, server_in_layout

pytestmark = pytest.mark.e2e

API_KEY = "v2-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
TOLERANCE = 1e-4
# (inputs as binary, outputs as binary): tritonclient's default is binary both ways.
ENCODINGS = [(True, True), (False, False), (True, False), (False, True)]
QA_MODEL_NAME = "squad-bert"


class Served(NamedTuple):
    url: str
    name: str


@pytest.fixture(scope="module", params=SERVER_LAYOUTS)
def servers(
    request: pytest.FixtureRequest, tiny_task_dir: Callable[[str], Path]
) -> Iterator[dict[str, Served]]:
    """One live server per checkpoint: a masked LM with the NSP head (fill-mask and NSP), a
    classifier, a tagger, and a QA model served under a MODEL_NAME of its own. Without
    MODEL_NAME a model is named after its folder. Each in one process, or two front-ends."""
    with ExitStack() as stack:
        served = {}
        for kind in ("pretraining", "text-classification", "token-classification", "question-answering"):
            checkpoint = tiny_task_dir(kind)
            named = {"model_name": QA_MODEL_NAME} if kind == "question-answering" else {}
            url = stack.enter_context(
                server_in_layout(request.param, model_id=str(checkpoint), api_key=API_KEY, **named)
            )
            served[kind] = Served(url, QA_MODEL_NAME if named else checkpoint.name)
        yield served


def auth() -> dict[str, str]:
    """A fresh dict per call: tritonclient adds Inference-Header-Content-Length to the one it gets."""
    return dict(AUTH)


def client_for(url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=url.removeprefix("http://"))


def infer(
    url: str,
    name: str,
    inputs: dict[str, list[str]],
    outputs: list[str],
    encoding: tuple[bool, bool],
    **parameters: Any,
) -> dict[str, np.ndarray]:
    """tritonclient's own infer, as a user writes it; BYTES outputs decoded to str."""
    binary_in, binary_out = encoding
    tensors = []
    for input_name, texts in inputs.items():
        tensor = triton.InferInput(input_name, [len(texts)], "BYTES")
        tensor.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary_in)
        tensors.append(tensor)
    requested = [triton.InferRequestedOutput(output, binary_data=binary_out) for output in outputs]
    result = client_for(url).infer(
        name, tensors, outputs=requested, parameters=parameters or None, headers=auth()
    )
    return {output: as_text(result.as_numpy(output)) for output in outputs}


def as_text(array: np.ndarray) -> np.ndarray:
    """BYTES outputs come as bytes from binary data and as str from JSON: str either way."""
    if array.dtype != object:
        return array
    texts = [item.decode() if isinstance(item, bytes) else item for item in array.flat]
    return np.array(texts, dtype=object).reshape(array.shape)


def score(url: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{url}/score", json=body, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_health_and_metadata_through_tritonclient(
    servers: dict[str, Served], tiny_task_dir: Callable[[str], Path]
) -> None:
    url, _ = servers["pretraining"]
    client = client_for(url)
    name = tiny_task_dir("pretraining").name  # MODEL_NAME unset: the checkpoint's folder name
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(name) and client.is_model_ready(name, "1")
    assert not client.is_model_ready("bert-base-cased") and not client.is_model_ready(name, "2")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata(name, "1")
    assert (metadata["name"], metadata["versions"]) == (name, ["1"])
    tensors = {(t["parameters"]["task"], t["name"]): (t["datatype"], t["shape"]) for t in metadata["outputs"]}
    assert tensors[("fill-mask", "token_str")] == ("BYTES", [-1, -1, -1])
    assert tensors[("next-sentence-prediction", "score")] == ("FP32", [-1, -1])
    inputs = [(t["parameters"]["task"], t["name"]) for t in metadata["inputs"]]
    assert inputs == [
        ("fill-mask", "text"),
        ("next-sentence-prediction", "text"),
        ("next-sentence-prediction", "text_pair"),
    ]


def test_tritons_tools_read_the_model_configuration(servers: dict[str, Served]) -> None:
    defaults = Settings()
    for served in servers.values():
        client = client_for(served.url)
        config = client.get_model_config(served.name)
        assert config == client.get_model_config(served.name, "1")
        metadata = client.get_model_metadata(served.name)
        assert config["name"] == served.name and config["max_batch_size"] == 0
        assert [tensor["name"] for tensor in config["input"]] == list(
            dict.fromkeys(t["name"] for t in metadata["inputs"])
        )
        assert {tensor["data_type"] for tensor in config["input"]} == {"TYPE_STRING"}
        assert {tensor["name"] for tensor in config["output"]} == {t["name"] for t in metadata["outputs"]}
        batching = config["dynamic_batching"]
        assert batching["preferred_batch_size"] == [defaults.max_batch_size]
        assert batching["default_queue_policy"]["max_queue_size"] == defaults.max_queued_inputs
        engine = httpx.get(f"{served.url}/health/ready").json()["engine"]
        assert config["instance_group"] == [
            {"name": served.name, "kind": "KIND_CPU", "count": engine["instances"]}
        ]
        with pytest.raises(InferenceServerException, match="nope"):
            client.get_model_config("nope")
    nsp = client_for(servers["pretraining"].url).get_model_config(servers["pretraining"].name)
    # fill-mask reads text alone; next-sentence prediction text and text_pair: text_pair is optional.
    assert nsp["input"] == [
        {"name": "text", "data_type": "TYPE_STRING", "dims": [-1]},
        {"name": "text_pair", "data_type": "TYPE_STRING", "dims": [-1], "optional": True},
    ]


def test_model_name_setting_names_the_model(servers: dict[str, Served]) -> None:
    client = client_for(servers["question-answering"].url)
    assert client.is_model_ready(QA_MODEL_NAME)
    assert client.get_model_metadata(QA_MODEL_NAME)["name"] == QA_MODEL_NAME
    assert [t["name"] for t in client.get_model_metadata(QA_MODEL_NAME)["inputs"]] == ["question", "context"]


def test_infer_needs_the_api_key_and_says_so_through_tritonclient(servers: dict[str, Served]) -> None:
    url, _ = servers["question-answering"]
    question = triton.InferInput("question", [1], "BYTES").set_data_from_numpy(
        np.array(["Who?"], dtype=object)
    )
    context = triton.InferInput("context", [1], "BYTES").set_data_from_numpy(np.array(["Ann."], dtype=object))
    with pytest.raises(InferenceServerException) as refused:
        client_for(url).infer(QA_MODEL_NAME, [question, context])
    assert refused.value.status() == "401" and "API key" in refused.value.message()


FILL_MASK_TEXTS = [
    "Paris is the [MASK] of France.",
    "The [MASK] sat on the [MASK] .",
    "a [mask] day",
    "[MASK] London",
    "naïve 東京 walked [MASK] to the house",
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fill_mask_equals_score_and_the_pipeline(
    servers: dict[str, Served], tiny_task_dir: Callable[[str], Path], encoding: tuple[bool, bool]
) -> None:
    from transformers import pipeline

    url, name = servers["pretraining"]
    outputs = infer(url, name, {"text": FILL_MASK_TEXTS}, ["token_str", "token", "score"], encoding, top_k=3)
    assert outputs["token_str"].shape == (len(FILL_MASK_TEXTS), 2, 3)
    scored = score(url, {"inputs": FILL_MASK_TEXTS, "parameters": {"top_k": 3}})
    oracle = pipeline("fill-mask", model=str(tiny_task_dir("pretraining")), device="cpu", top_k=3)
    for row, (text, masks) in enumerate(zip(FILL_MASK_TEXTS, scored, strict=True)):
        expected = oracle(text.replace("[mask]", "[MASK]"))
        expected = expected if isinstance(expected[0], list) else [expected]
        for mask, (candidates, pipeline_candidates) in enumerate(zip(masks, expected, strict=True)):
            assert list(outputs["token_str"][row, mask]) == [c["token_str"] for c in candidates]
            assert list(outputs["token_str"][row, mask]) == [c["token_str"] for c in pipeline_candidates]
            assert list(outputs["token"][row, mask]) == [c["token"] for c in candidates]
            assert np.allclose(
                outputs["score"][row, mask], [c["score"] for c in pipeline_candidates], atol=TOLERANCE
            )
        for padded in range(len(masks), 2):  # fewer masks than the longest row: padding
            assert list(outputs["token"][row, padded]) == [-1] * 3
            assert list(outputs["token_str"][row, padded]) == [""] * 3


CLASSIFIED = ["i feel so happy today", "i am scared of the dark", "the dog ran home ."]
PAIRS = ["it was a good day", "the cat sat", "London is a city"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_text_classification_of_texts_and_pairs_equals_the_pipeline(
    servers: dict[str, Served], tiny_task_dir: Callable[[str], Path], encoding: tuple[bool, bool]
) -> None:
    from transformers import pipeline

    url, name = servers["text-classification"]
    oracle = pipeline("text-classification", model=str(tiny_task_dir("text-classification")), device="cpu")
    singles = infer(url, name, {"text": CLASSIFIED}, ["label", "score"], encoding, top_k=2)
    pairs = infer(url, name, {"text_pair": PAIRS, "text": CLASSIFIED}, ["label", "score"], encoding, top_k=2)
    for row, (text, pair) in enumerate(zip(CLASSIFIED, PAIRS, strict=True)):
        for outputs, question in ((singles, text), (pairs, {"text": text, "text_pair": pair})):
            expected = oracle(question, top_k=2)
            assert list(outputs["label"][row]) == [e["label"] for e in expected]
            assert np.allclose(outputs["score"][row], [e["score"] for e in expected], atol=TOLERANCE)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_next_sentence_prediction_equals_score(
    servers: dict[str, Served], encoding: tuple[bool, bool]
) -> None:
    url, name = servers["pretraining"]
    outputs = infer(
        url, name, {"text": CLASSIFIED, "text_pair": PAIRS}, ["label", "score"], encoding, top_k=2
    )
    scored = score(
        url, {"input_data": {"sentence1": CLASSIFIED, "sentence2": PAIRS}, "parameters": {"top_k": 2}}
    )
    for row, expected in enumerate(scored):
        assert list(outputs["label"][row]) == [e["label"] for e in expected]
        assert np.allclose(outputs["score"][row], [e["score"] for e in expected], atol=TOLERANCE)


NER_TEXTS = [
    "EU rejects German call to boycott British lamb .",
    "Paris",
    "the king and the queen of England went home",
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_token_classification_equals_score(servers: dict[str, Served], encoding: tuple[bool, bool]) -> None:
    url, name = servers["token-classification"]
    fields = ["word", "entity", "score", "start", "end"]
    outputs = infer(url, name, {"text": NER_TEXTS}, fields, encoding)
    scored = score(url, {"inputs": {"input_string": NER_TEXTS}, "parameters": {"top_k": 1}})
    longest = max(len(words) for words in scored)
    for row, words in enumerate(scored):
        for field in ("word", "entity", "start", "end"):
            assert list(outputs[field][row, : len(words)]) == [w[field] for w in words]
        assert np.allclose(outputs["score"][row, : len(words)], [w["score"] for w in words], atol=TOLERANCE)
        assert list(outputs["start"][row, len(words) :]) == [-1] * (longest - len(words))


QUESTIONS = ["Where is the river?", "Who sang?", "What did the man read?"]
CONTEXTS = [
    "The river is in London and the city is old .",
    "The queen sang and the king wrote a book .",
    "The man read a book about the war in France every morning .",
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_question_answering_equals_score(servers: dict[str, Served], encoding: tuple[bool, bool]) -> None:
    url, name = servers["question-answering"]
    fields = ["answer", "score", "start", "end"]
    outputs = infer(url, name, {"question": QUESTIONS, "context": CONTEXTS}, fields, encoding, top_k=2)
    scored = score(
        url, {"input_data": {"question": QUESTIONS, "context": CONTEXTS}, "parameters": {"top_k": 2}}
    )
    for row, spans in enumerate(scored):
        for field in ("answer", "start", "end"):
            assert list(outputs[field][row]) == [span[field] for span in spans]
        assert np.allclose(outputs["score"][row], [span["score"] for span in spans], atol=TOLERANCE)


def test_all_outputs_come_binary_when_none_are_named(servers: dict[str, Served]) -> None:
    """tritonclient asks for every output in binary when the call names none."""
    url, name = servers["text-classification"]
    tensor = triton.InferInput("input-0", [1], "BYTES").set_data_from_numpy(
        np.array(CLASSIFIED[:1], dtype=object)
    )
    result = client_for(url).infer(name, [tensor], headers=auth(), request_id="row-7")
    response = result.get_response()
    assert [output["name"] for output in response["outputs"]] == ["label", "score"]
    assert all("binary_data_size" in output["parameters"] for output in response["outputs"])
    assert (response["id"], response["parameters"]) == ("row-7", {"task": "text-classification"})
    assert result.as_numpy("score").dtype == np.float32


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_compressed_requests_are_inflated(servers: dict[str, Served], compression: str) -> None:
    url, name = servers["text-classification"]
    plain = infer(url, name, {"text": CLASSIFIED}, ["label"], (True, True))
    tensor = triton.InferInput("text", [len(CLASSIFIED)], "BYTES")
    tensor.set_data_from_numpy(np.array(CLASSIFIED, dtype=object))
    result = client_for(url).infer(name, [tensor], headers=auth(), request_compression_algorithm=compression)
    assert (as_text(result.as_numpy("label")) == plain["label"]).all()


def test_a_bad_parameter_is_a_400_tritonclient_reports(servers: dict[str, Served]) -> None:
    url, name = servers["pretraining"]
    tensor = triton.InferInput("text", [1], "BYTES").set_data_from_numpy(np.array(["a [MASK]"], dtype=object))
    with pytest.raises(InferenceServerException) as refused:
        client_for(url).infer(name, [tensor], headers=auth(), parameters={"top_k": 0})
    assert refused.value.status() == "400" and "'top_k' must be an integer" in refused.value.message()


def test_response_id_is_the_request_id_when_the_client_sends_none(servers: dict[str, Served]) -> None:
    url, name = servers["pretraining"]
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a [MASK]"]}]}
    response = httpx.post(
        f"{url}/v2/models/{name}/infer", json=body, headers={**AUTH, "x-request-id": "trace-1"}
    )
    assert response.json()["id"] == "trace-1" and response.headers["x-request-id"] == "trace-1"


def test_statistics_count_what_the_model_did(servers: dict[str, Served]) -> None:
    url, name = servers["text-classification"]
    client = client_for(url)

    def stats() -> dict[str, Any]:
        (model,) = client.get_inference_statistics(name, headers=auth())["model_stats"]
        return model

    before = stats()
    infer(url, name, {"text": CLASSIFIED}, ["label"], (True, True))
    with pytest.raises(InferenceServerException):
        infer(url, name, {"text": ["x"]}, ["label"], (True, True), top_k=0)  # a 400: a failure
    deadline = time.monotonic() + 10  # a request is counted once its answer is sent
    while (after := stats())["inference_stats"]["fail"]["count"] == before["inference_stats"]["fail"][
        "count"
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grown = {
        key: after["inference_stats"][key]["count"] - before["inference_stats"][key]["count"]
        for key in ("success", "fail", "queue")
    }
    assert grown == {"success": 1, "fail": 1, "queue": len(CLASSIFIED)}
    assert after["inference_count"] - before["inference_count"] == len(CLASSIFIED)
    assert after["execution_count"] > before["execution_count"]
    assert after["name"] == name and after["version"] == "1" and after["last_inference"] > 0
    inference = after["inference_stats"]
    assert (
        inference["compute_infer"]["count"] == after["execution_count"]
        and inference["compute_infer"]["ns"] > 0
    )
    assert inference["success"]["ns"] > 0
    batches = after["batch_stats"]
    assert sum(batch["compute_infer"]["count"] for batch in batches) == after["execution_count"]
    assert (
        sum(batch["batch_size"] * batch["compute_infer"]["count"] for batch in batches)
        == after["inference_count"]
    )
    every = client.get_inference_statistics(headers=auth())["model_stats"]
    assert [model["name"] for model in every] == [name]
    with pytest.raises(InferenceServerException, match="nope"):
        client.get_inference_statistics("nope")
