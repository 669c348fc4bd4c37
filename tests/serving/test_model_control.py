"""Model control (Triton's load and unload) is off unless asked for, and then needs the key and a
JSON (or no) body; the index stays readable either way."""

from typing import Any

import pytest
import tritonclient.http as triton
from fastapi.testclient import TestClient
from pydantic import ValidationError
from tritonclient.utils import InferenceServerException

from app.config import Settings
from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served
from tests.live_server import live_server
from tests.serving.asgi_clients import fake_app

UNLOAD = "/v2/repository/models/fake/unload"
LOAD = "/v2/repository/models/fake/load"
AUTH = {"Authorization": "Bearer s3cret"}


def test_by_default_load_and_unload_are_403_naming_the_setting_and_the_model_keeps_serving(
    fake_model: FakeFillMaskTask,
) -> None:
    with TestClient(fake_app(fake_model)) as client:
        wait_until_ready(client)
        cross_site = {"Content-Type": "text/plain", "Origin": "https://evil.example"}
        for path in (UNLOAD, LOAD):
            refused = client.post(path, content="{}", headers=cross_site)
            assert refused.status_code == 403
            assert "MODEL_CONTROL=none" in refused.json()["error"]
        assert client.post("/v2/repository/index").json()[0]["state"] == "READY"
        assert client.post("/score", json=SAMPLE_REQUEST).status_code == 200


def test_explicit_model_control_needs_an_api_key() -> None:
    with pytest.raises(ValidationError, match=r"MODEL_CONTROL=explicit .* needs API_KEY"):
        Settings(model_control="explicit")


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, "{}", 401),  # no key
        ({**AUTH, "Content-Type": "text/plain"}, "{}", 415),  # what a web page can send across sites
        ({**AUTH, "Content-Type": "application/x-www-form-urlencoded"}, "a=1", 415),
        ({**AUTH, "Content-Type": "application/json; charset=utf-8"}, "{}", 200),
        (AUTH, None, 200),  # no body and no content type: tritonclient's way
    ],
)
def test_explicit_model_control_takes_the_key_and_a_json_body(
    fake_model: FakeFillMaskTask, headers: dict[str, str], body: str | None, status: int
) -> None:
    with TestClient(fake_app(fake_model, model_control="explicit", api_key="s3cret")) as client:
        wait_until_ready(client)
        answer = client.post(UNLOAD, content=body, headers=headers)
        assert answer.status_code == status, answer.text
        if status == 415:
            assert "application/json" in answer.json()["error"]
        state = client.post("/v2/repository/index", headers=AUTH).json()[0]["state"]
        assert state == ("UNAVAILABLE" if status == 200 else "READY")


@pytest.mark.e2e
def test_tritonclient_loads_and_unloads_with_the_key() -> None:
    fake = FakeFillMaskTask()
    settings: dict[str, Any] = {"model_id": "fake", "model_control": "explicit", "api_key": "s3cret"}
    with live_server(load_model=lambda *_: served(fake), **settings) as base_url:
        client = triton.InferenceServerClient(base_url.removeprefix("http://"))
        with pytest.raises(InferenceServerException, match="API key"):
            client.unload_model("fake")
        client.unload_model("fake", headers=AUTH)
        assert not client.is_model_ready("fake")
        client.load_model("fake", headers=AUTH)
        assert client.is_model_ready("fake")


def test_a_load_that_brings_a_configuration_or_files_is_refused_saying_so() -> None:
    fake = FakeFillMaskTask()
    settings: dict[str, Any] = {"model_id": "fake", "model_control": "explicit", "api_key": "s3cret"}
    with live_server(load_model=lambda *_: served(fake), **settings) as base_url:
        client = triton.InferenceServerClient(base_url.removeprefix("http://"))
        client.unload_model("fake", headers=AUTH)
        with pytest.raises(InferenceServerException, match=r"configuration or files with a load \(config\)"):
            client.load_model("fake", headers=AUTH, config='{"max_batch_size": 8}')
        with pytest.raises(InferenceServerException, match=r"file:1/model.pt"):
            client.load_model("fake", headers=AUTH, files={"file:1/model.pt": b"weights"})
        assert not client.is_model_ready("fake"), "nothing was loaded without them"
        client.load_model("fake", headers=AUTH)
        assert client.is_model_ready("fake")
