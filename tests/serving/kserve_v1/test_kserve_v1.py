"""KServe's v1 protocol on every task: KServe's own request shape, answers equal to /score's on the
same checkpoint, and its error codes and shape."""

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openai import NotFoundError, OpenAI

from app.config import Settings
from app.serving.app import create_app
from tests.fakes import FakeFillMaskTask, served
from tests.live_server import SERVER_LAYOUTS, server_in_layout

# KServe's test/e2e/data/bert_fill_mask_v1.json
KSERVE_FILL_MASK = {"instances": ["The capital of France is [MASK].", "The capital of [MASK] is paris."]}
TEXTS = ["I love this film.", "Today is a [MASK] day!", "Angela Merkel visited Paris."]
PAIRS = [["The sky is blue.", "It rarely rains."], ["He went home.", "Penguins live in the south."]]
QUESTIONS = [
    {"question": "Where does Wolfgang live?", "context": "My name is Wolfgang and I live in Berlin."},
    {"question": "What is blue?", "context": "The sky is blue and the grass is green."},
]
API_KEY = "v1-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module", params=SERVER_LAYOUTS)
def clients(
    request: pytest.FixtureRequest, tiny_task_dir: Callable[[str], Path]
) -> Iterator[dict[str, tuple[httpx.Client, str]]]:
    """A client per checkpoint (the pretraining one fills masks and predicts next sentences), with
    the name /v1 serves it under; each server in one process, or two front-ends."""
    with ExitStack() as stack:
        served = {}
        for kind in ("pretraining", "text-classification", "token-classification", "question-answering"):
            checkpoint = tiny_task_dir(kind)
            url = stack.enter_context(
                server_in_layout(request.param, model_id=str(checkpoint), api_key=API_KEY)
            )
            client = stack.enter_context(httpx.Client(base_url=url, timeout=60))
            served[kind] = (client, checkpoint.name)
        yield served


def predict(client: httpx.Client, name: str, body: Any) -> Any:
    return client.post(f"/v1/models/{name}:predict", json=body, headers=AUTH)


def score(client: httpx.Client, input_data: dict[str, Any]) -> list[str]:
    response = client.post("/score", json={"input_data": input_data}, headers=AUTH)
    assert response.status_code == 200, response.text
    return [row["0"] for row in response.json()]


def test_models_and_readiness(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["pretraining"]
    for prefix in ("", "/openai"):
        listed = client.get(f"{prefix}/v1/models").json()
        assert listed["models"] == [name]  # KServe's
        assert listed["object"] == "list" and [model["id"] for model in listed["data"]] == [name]  # OpenAI's
        model = client.get(f"{prefix}/v1/models/{name}").json()
        assert (model["name"], model["ready"], model["id"], model["object"]) == (name, True, name, "model")
        assert client.get(f"{prefix}/v1/models/nope").status_code == 404


def test_openais_client_lists_and_retrieves_the_models(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["pretraining"]
    for prefix in ("/v1", "/openai/v1"):
        openai = OpenAI(base_url=str(client.base_url).rstrip("/") + prefix, api_key=API_KEY)
        assert [model.id for model in openai.models.list()] == [name]
        model = openai.models.retrieve(name)
        assert (model.id, model.object, model.owned_by) == (name, "model", "bert-serving")
        assert model.created > 0
        with pytest.raises(NotFoundError):
            openai.models.retrieve("nope")


def test_fill_mask_with_kserves_own_request_equals_score(
    clients: dict[str, tuple[httpx.Client, str]],
) -> None:
    client, name = clients["pretraining"]
    response = predict(client, name, KSERVE_FILL_MASK)
    assert response.status_code == 200, response.text
    expected = score(client, {"input_string": KSERVE_FILL_MASK["instances"]})
    assert response.json() == {"predictions": expected}


def test_inputs_is_read_as_instances(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["pretraining"]
    assert (
        predict(client, name, {"inputs": KSERVE_FILL_MASK["instances"]}).json()
        == predict(client, name, KSERVE_FILL_MASK).json()
    )


def test_pairs_on_a_pretraining_checkpoint_predict_next_sentences(
    clients: dict[str, tuple[httpx.Client, str]],
) -> None:
    client, name = clients["pretraining"]
    as_objects = [{"text": a, "text_pair": b} for a, b in PAIRS]
    expected = score(client, {"sentence1": [a for a, _ in PAIRS], "sentence2": [b for _, b in PAIRS]})
    assert predict(client, name, {"instances": PAIRS}).json() == {"predictions": expected}
    assert predict(client, name, {"instances": as_objects}).json() == {"predictions": expected}


def test_classification_answers_label_names_for_texts_and_pairs(
    clients: dict[str, tuple[httpx.Client, str]],
) -> None:
    client, name = clients["text-classification"]
    assert predict(client, name, {"instances": TEXTS}).json() == {
        "predictions": score(client, {"input_string": TEXTS})
    }
    expected = score(client, {"text": [a for a, _ in PAIRS], "text_pair": [b for _, b in PAIRS]})
    assert predict(client, name, {"instances": PAIRS}).json() == {"predictions": expected}


def test_ner_answers_a_tag_per_word(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["token-classification"]
    predictions = predict(client, name, {"instances": TEXTS}).json()["predictions"]
    # /score writes the same tags as Python's str() of the list, Azure's NER format.
    assert [str(tags) for tags in predictions] == score(client, {"input_string": TEXTS})
    assert all(tags and all(isinstance(tag, str) for tag in tags) for tags in predictions)


def test_question_answering_answers_the_span(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["question-answering"]
    expected = score(
        client, {"question": [q["question"] for q in QUESTIONS], "context": [q["context"] for q in QUESTIONS]}
    )
    assert predict(client, name, {"instances": QUESTIONS}).json() == {"predictions": expected}


def test_unknown_model_is_kserves_404(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, _ = clients["pretraining"]
    for response in (client.get("/v1/models/nope"), predict(client, "nope", KSERVE_FILL_MASK)):
        assert response.status_code == 404
        assert response.json() == {"error": "Model with name nope does not exist."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "The body must be a JSON object"),
        ({}, "Missing 'instances' (or 'inputs')"),
        ({"instances": []}, "'instances' must be a non-empty list"),
        ({"instances": "Paris is the [MASK]."}, "'instances' must be a non-empty list"),
        (
            {"instances": ["ok [MASK].", 3]},
            "'instances[1]' must be a string with [MASK] for this fill-mask model",
        ),
        ({"instances": ["a [MASK]."], "signature_name": "x"}, "Unknown field 'signature_name'"),
        ({"instances": ["No mask here."]}, "Input 0"),
    ],
)
def test_bad_bodies_are_400_in_kserves_error_shape(
    clients: dict[str, tuple[httpx.Client, str]], body: Any, message: str
) -> None:
    client, name = clients["pretraining"]
    response = client.post(f"/v1/models/{name}:predict", content=json.dumps(body), headers=AUTH)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]


def test_qa_instances_must_be_question_and_context(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["question-answering"]
    response = predict(client, name, {"instances": ["Where?"]})
    assert response.status_code == 400
    assert '\'instances[0]\' must be an object {"question", "context"}' in response.json()["error"]


def test_predict_needs_the_api_key_and_counts_inputs(clients: dict[str, tuple[httpx.Client, str]]) -> None:
    client, name = clients["pretraining"]
    unauthorised = client.post(f"/v1/models/{name}:predict", json=KSERVE_FILL_MASK)
    assert unauthorised.status_code == 401
    assert set(unauthorised.json()) == {"error"}
    limit = Settings().max_inputs_per_request
    too_many = predict(client, name, {"instances": ["a [MASK]."] * (limit + 1)})
    assert too_many.status_code == 413
    assert too_many.json() == {
        "error": f"'instances' has {limit + 1} inputs; the limit is {limit} per request. Split it."
    }


@pytest.mark.parametrize("liveness", ["azure", "kserve"])
def test_root_liveness_is_azures_or_as_kserves_v1_client_reads_it(liveness: str) -> None:
    settings = Settings(model_id="fake-model", root_liveness=liveness)  # type: ignore[arg-type]
    with TestClient(create_app(settings, load_model=lambda _: served(FakeFillMaskTask()))) as client:
        root = client.get("/")
        assert root.status_code == 200
        if liveness == "azure":
            assert (root.headers["content-type"].split(";")[0], root.text) == ("text/plain", "Healthy")
        else:
            # kserve.InferenceRESTClient(protocol="v1").is_server_live(), v0.14 to v0.20, word for word:
            # `response.json().get("status").lower() == "alive"`
            assert root.json().get("status").lower() == "alive"
