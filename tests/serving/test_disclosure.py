"""What public bodies say about the server: absolute paths and exception class names only with
EXPOSE_DETAILS on (the log keeps them either way); and the API pages' third-party scripts pinned
with Subresource Integrity."""

import logging
import re
import threading
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.errors import ModelLoadError, public_text
from app.model_source import ModelSource
from app.serving.app import create_app
from app.serving.azure.schemas import SAMPLE_REQUEST
from app.tasks.checkpoint import ServedModel
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served

BROKEN = "/srv/models/emotion"
BODY = {"inputs": "Paris is the [MASK] of France."}


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("/models/emotion/adapter_config.json names no base", "adapter_config.json names no base"),
        ("No such file: '/x/y/config.json'.", "No such file: 'config.json'."),
        ("Model folder /srv/models/emotion/ is empty", "Model folder emotion is empty"),
        ("The inference worker died: RuntimeError: policy bug", "The inference worker died: policy bug"),
        ("torch.cuda.OutOfMemoryError: CUDA out of memory", "CUDA out of memory"),
        ("ValueError: ", ""),
    ],
)
def test_public_text_redacts_absolute_paths_and_exception_names(text: str, redacted: str) -> None:
    assert public_text(text, expose_details=False) == redacted
    assert public_text(text, expose_details=True) == text


@pytest.mark.parametrize(
    "text",
    [
        "bert-base-cased",
        "google-bert/bert-base-cased",
        "See https://huggingface.co/google-bert/bert-base-cased/tree/main",
        "POST /score with a [MASK]",
        "Client Error: Not Found",
        "./relative/folder",
    ],
)
def test_public_text_keeps_hub_ids_urls_routes_and_relative_paths(text: str) -> None:
    assert public_text(text, expose_details=False) == text


def test_public_text_keeps_the_clients_own_url_path() -> None:
    text = "No route GET /v2/models/x/config in the Open Inference Protocol."
    assert public_text(text, expose_details=False, client_path="/v2/models/x/config") == text


def repository_app(fail_with: Exception, **settings: Any) -> FastAPI:
    """Model `a` serves; `broken`, from an absolute folder, fails to load with `fail_with`."""

    def load(source: ModelSource) -> ServedModel:
        if source.model == BROKEN:
            raise fail_with
        return served(FakeFillMaskTask())

    models = ["a=fake-a", f"broken={BROKEN}"]
    return create_app(Settings(models=models, **settings), load_model=load, on_fatal=lambda: None)


PATH_FAILURE = ModelLoadError(f"{BROKEN}/adapter_config.json names no base_model_name_or_path.")


def test_a_load_failure_shows_no_absolute_path_by_default() -> None:
    with TestClient(repository_app(PATH_FAILURE)) as client:
        wait_until_ready(client)
        index = client.post("/v2/repository/index").json()
        ready = client.get("/health/ready")
        refused = client.post("/models/broken", json=BODY)
    assert index[1]["reason"] == "adapter_config.json names no base_model_name_or_path."
    assert ready.json()["models"][1]["model"] == "emotion"
    assert refused.status_code == 503
    assert refused.json()["error"] == (
        "The model 'broken' is not loaded: adapter_config.json names no base_model_name_or_path."
    )
    assert "/srv" not in str(index) + ready.text + refused.text


def test_expose_details_shows_the_absolute_paths() -> None:
    with TestClient(repository_app(PATH_FAILURE, expose_details=True)) as client:
        wait_until_ready(client)
        index = client.post("/v2/repository/index").json()
        ready = client.get("/health/ready").json()
        refused = client.post("/models/broken", json=BODY).json()
    assert index[1]["reason"] == PATH_FAILURE.message
    assert ready["models"][1] == {
        "name": "broken",
        "state": "UNAVAILABLE",
        "model": BROKEN,
        "reason": index[1]["reason"],
    }
    assert PATH_FAILURE.message in refused["error"]


@pytest.mark.parametrize("expose_details", [False, True])
def test_a_server_with_no_model_answers_503_without_paths_unless_exposed(expose_details: bool) -> None:
    stopped = threading.Event()

    def load(_: ModelSource) -> ServedModel:
        raise ModelLoadError(f"{BROKEN} holds no config.json.")

    settings = Settings(model_id=BROKEN, expose_details=expose_details)
    with TestClient(create_app(settings, load_model=load, on_fatal=stopped.set)) as client:
        assert stopped.wait(5)
        ready = client.get("/health/ready")
        score = client.post("/score", json=SAMPLE_REQUEST)
    assert ready.status_code == score.status_code == 503
    shown = BROKEN if expose_details else "emotion"
    assert (
        ready.json()["message"]
        == score.json()["message"]
        == f"The model failed to load: {shown} holds no config.json."
    )


@pytest.mark.parametrize(
    ("expose_details", "reason"), [(False, "bad weights"), (True, "ValueError: bad weights")]
)
def test_an_unexpected_load_failure_names_no_class_unless_exposed(expose_details: bool, reason: str) -> None:
    with TestClient(repository_app(ValueError("bad weights"), expose_details=expose_details)) as client:
        wait_until_ready(client)
        assert client.post("/v2/repository/index").json()[1]["reason"] == reason


@pytest.mark.parametrize("expose_details", [False, True])
def test_an_unexpected_error_answers_500_naming_its_class_only_when_exposed(
    expose_details: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeFillMaskTask()
    settings = Settings(model_id="fake", expose_details=expose_details)
    app = create_app(settings, load_model=lambda _: served(fake), on_fatal=lambda: None)
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        wait_until_ready(client)
        fake.fail_on_length = len(BODY["inputs"])
        response = client.post("/", json=BODY, headers={"x-request-id": "req-42"})
    assert response.status_code == 500
    if expose_details:
        assert response.json() == {"error": "Internal error while serving the request: RuntimeError."}
    else:
        assert response.json() == {
            "error": "Internal error while serving the request (request id req-42); "
            "the server's log has the details."
        }
    assert "Request req-42 failed: RuntimeError: cannot run an input of length" in caplog.text


@pytest.mark.parametrize("expose_details", [False, True])
def test_tei_info_names_a_local_model_by_its_folder_unless_exposed(expose_details: bool) -> None:
    model = ServedModel(source=BROKEN, tasks={"fill-mask": FakeFillMaskTask()})  # type: ignore[dict-item]
    settings = Settings(model_id=BROKEN, expose_details=expose_details)
    with TestClient(create_app(settings, load_model=lambda _: model, on_fatal=lambda: None)) as client:
        wait_until_ready(client)
        assert client.get("/info").json()["model_id"] == (BROKEN if expose_details else "emotion")


class ExternalAssets(HTMLParser):
    """Each <script src> and <link href> of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if (tag == "script" and attributes.get("src")) or (tag == "link" and attributes.get("href")):
            self.assets.append(attributes)


@pytest.mark.parametrize(("page", "library"), [("/docs", "swagger-ui-dist"), ("/redoc", "redoc")])
def test_the_api_pages_load_only_exact_versions_with_integrity(page: str, library: str) -> None:
    app = create_app(Settings(model_id="fake"), load_model=lambda _: served(FakeFillMaskTask()))
    with TestClient(app) as client:
        response = client.get(page)
    assert response.status_code == 200
    parser = ExternalAssets()
    parser.feed(response.text)
    assert parser.assets
    for asset in parser.assets:
        url = asset.get("src") or asset.get("href") or ""
        assert re.match(rf"https://cdn\.jsdelivr\.net/npm/{library}@\d+\.\d+\.\d+/", url), url
        assert re.fullmatch(r"sha384-[A-Za-z0-9+/]{64}", asset.get("integrity") or ""), url
        assert asset.get("crossorigin") == "anonymous", url
    assert f'"{app.openapi_url}"' in response.text
