import json
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.errors import ModelLoadError
from app.runtime import available_cpus
from app.serving.app import create_app
from app.serving.azure.schemas import SAMPLE_REQUEST
from app.tasks.checkpoint import ServedModel
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_score_answers_sample_request_as_azure_records(client: TestClient) -> None:
    response = client.post("/score", json=SAMPLE_REQUEST)
    assert response.status_code == 200
    assert response.json() == [{"0": "w30"}, {"0": "w22"}]


def test_score_body_is_byte_identical_to_json_dumps(client: TestClient) -> None:
    response = client.post("/score", json=SAMPLE_REQUEST)
    assert response.content == json.dumps(response.json()).encode()
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("key", ["input_data", "inputs"])
def test_score_answers_a_plain_list_with_a_plain_list(client: TestClient, key: str) -> None:
    response = client.post("/score", json={key: ["a [MASK]", "bb [MASK]"]})
    assert response.status_code == 200
    assert response.json() == ["w8", "w9"]


def test_score_accepts_the_2023_inputs_key(client: TestClient) -> None:
    response = client.post("/score", json={"inputs": {"input_string": ["a [mask]"]}})
    assert response.json() == [{"0": "w8"}]


def test_score_joins_several_masks_with_commas(client: TestClient) -> None:
    response = client.post("/score", json={"inputs": ["[MASK] and [mask] and <mask>"]})
    assert response.json() == ["w28,w28,w28"]


def test_score_normalizes_mask_spellings_before_the_model(
    client: TestClient, fake_model: FakeFillMaskTask
) -> None:
    client.post("/score", json={"inputs": ["a [mask] b <MASK> c [Mask]"]})
    assert fake_model.calls[-1] == ["a [MASK] b [MASK] c [MASK]"]


@pytest.mark.parametrize("where", ["top", "inside"])
def test_score_with_top_k_answers_candidates_per_mask(client: TestClient, where: str) -> None:
    body: dict = {"input_data": {"input_string": ["a [MASK] [MASK]"]}}
    if where == "top":
        body["parameters"] = {"top_k": 3}
    else:
        body["input_data"]["parameters"] = {"top_k": 3}
    answer = client.post("/score", json=body).json()
    assert len(answer) == 1 and len(answer[0]) == 2
    assert [c["token_str"] for c in answer[0][0]] == ["w15", "w15-1", "w15-2"]
    assert set(answer[0][0][0]) == {"token_str", "token", "score"}


@pytest.mark.parametrize(
    ("raw_body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'["Paris is the [MASK]."]', "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"{}", "Missing 'input_data'"),
        (b'{"input_data": {"input_string": "a [MASK]"}}', "must be a list of strings"),
        (b'{"input_data": {"input_string": []}}', "is empty"),
        (b'{"input_data": {"input_string": ["a [MASK]", 3]}}', "Input 1 must be a string"),
        (b'{"input_data": {"input_string": ["a [MASK]", "no mask"]}}', "Input 1 has no mask"),
        (b'{"inputs": ["a [MASK]"], "parameters": {"top_n": 2}}', "Unknown parameter 'top_n'"),
        (b'{"inputs": ["a [MASK]"], "parameters": {"top_k": 11}}', "from 1 to 10"),
        (b'{"inputs": ["a [MASK]"], "parameters": {"top_k": "2"}}', "'top_k' must be an integer"),
        (b'{"inputs": ["a [MASK]"], "parameters": {"top_k": NaN}}', "'top_k' must be an integer"),
    ],
)
def test_score_rejects_bad_input_with_400_and_a_message(
    client: TestClient, raw_body: bytes, fragment: str
) -> None:
    response = client.post("/score", content=raw_body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_unknown_route_answers_json_404(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_wrong_method_answers_json_405(client: TestClient) -> None:
    response = client.get("/score")
    assert response.status_code == 405
    assert "message" in response.json()


def test_health_routes(client: TestClient) -> None:
    root = client.get("/")
    assert (root.status_code, root.text) == (200, "Healthy")
    assert client.get("/health/live").json() == {"status": "live"}
    described = {
        "model": "fake-model",
        "tasks": ["fill-mask"],
        "precision": "fp32",
        "device": "cpu",
        "compiled": False,
    }
    assert client.get("/health/ready").json() == {
        "status": "ready",
        **described,
        "default_model": "fake-model",
        "models": [{"name": "fake-model", "state": "READY", **described}],
        "engine": {"instances": 1, "threads_per_instance": available_cpus()},
    }


def test_openapi_documents_score_with_the_sample_request(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == SAMPLE_REQUEST
    assert body["schema"] == {"$ref": "#/components/schemas/ScoreRequest"}
    schemas = spec["components"]["schemas"]
    per_task = {
        "InputData",
        "ClassificationInputData",
        "TokenClassificationInputData",
        "QuestionAnsweringInputData",
        "NextSentenceInputData",
        "SplitInputData",
    }
    assert {"ScoreRequest", "MaskCandidate", "LabelScore", "WordEntity", "AnswerSpan"} | per_task <= set(
        schemas
    )
    assert "top_k" in schemas["FillMaskParameters"]["properties"]
    assert {"top_k", "max_answer_len", "doc_stride"} <= set(
        schemas["QuestionAnsweringParameters"]["properties"]
    )
    assert client.get("/swagger.json").json() == spec
    assert "swagger-ui" in client.get("/docs").text


def test_sample_request_file_is_the_documented_sample() -> None:
    assert json.loads((ROOT / "sample_request.json").read_text()) == SAMPLE_REQUEST


def test_ready_is_503_until_model_loaded_and_score_is_503_meanwhile() -> None:
    release = threading.Event()
    fake = FakeFillMaskTask()

    def slow_loader(_: str) -> ServedModel:
        release.wait(10)
        return served(fake)

    with TestClient(create_app(Settings(model_id="fake"), load_model=slow_loader)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and "still loading" in ready.json()["message"]
        assert client.get("/health/live").status_code == 200
        assert client.post("/score", json=SAMPLE_REQUEST).status_code == 503
        release.set()
        wait_until_ready(client)
        # the warm-up prediction ran before ready
        assert fake.calls[0] == ["Paris is the [MASK] of France."]
        assert client.post("/score", json=SAMPLE_REQUEST).status_code == 200


def test_failed_load_makes_ready_503_and_asks_the_process_to_stop() -> None:
    stopped = threading.Event()

    def failing_loader(_: str) -> ServedModel:
        raise ModelLoadError("no such model; set MODEL_ID")

    app = create_app(Settings(model_id="missing"), load_model=failing_loader, on_fatal=stopped.set)
    with TestClient(app) as client:
        assert stopped.wait(5)
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "no such model; set MODEL_ID" in ready.json()["message"]
        assert client.post("/score", json=SAMPLE_REQUEST).status_code == 503


def test_unexpected_model_failure_answers_json_500_and_the_next_request_succeeds(
    fake_app: FastAPI, fake_model: FakeFillMaskTask
) -> None:
    with TestClient(fake_app, raise_server_exceptions=False) as client:
        wait_until_ready(client)
        fake_model.fail_on_length = len(SAMPLE_REQUEST["input_data"]["input_string"][0])
        response = client.post("/score", json=SAMPLE_REQUEST, headers={"x-request-id": "req-7"})
        assert response.status_code == 500
        assert response.json() == {
            "message": "Internal error while serving the request (request id req-7); "
            "the server's log has the details."
        }
        fake_model.fail_on_length = None
        assert client.post("/score", json=SAMPLE_REQUEST).status_code == 200


def test_a_full_queue_answers_429_with_retry_after(fake_model: FakeFillMaskTask) -> None:
    app = create_app(Settings(model_id="fake", max_queued_inputs=2), load_model=lambda _: served(fake_model))
    with TestClient(app) as client:
        wait_until_ready(client)
        response = client.post("/score", json={"inputs": ["a [MASK]", "b [MASK]", "c [MASK]"]})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert "at capacity" in response.json()["message"]
