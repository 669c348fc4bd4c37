"""The API key: every POST needs the bearer token, checked before routing (so before a model's
name), answered in the route's own error shape, and paced like 429s; health stays open; an empty
key is refused at start."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.cli import main
from app.config import Settings
from app.serving import admission as admission_module
from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask
from tests.serving.asgi_clients import fake_app, run, running


def test_with_an_api_key_score_needs_the_bearer_token_and_health_stays_open(
    fake_model: FakeFillMaskTask,
) -> None:
    with TestClient(fake_app(fake_model, api_key="s3cret")) as client:
        wait_until_ready(client)
        missing = client.post("/score", json=SAMPLE_REQUEST)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/score", json=SAMPLE_REQUEST, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        bare = client.post("/score", json=SAMPLE_REQUEST, headers={"Authorization": "Bearer "})
        assert bare.status_code == 401
        right = client.post("/score", json=SAMPLE_REQUEST, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert client.get("/health/ready").status_code == 200
        assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "shape"),
    [
        ("/score", SAMPLE_REQUEST, {"message"}),
        ("/", {"inputs": "a [MASK]"}, {"error"}),
        ("/v2/models/fake/infer", {"inputs": []}, {"error"}),
        ("/v2/repository/index", {}, {"error"}),
        ("/embed", {"inputs": "a"}, {"error", "error_type"}),
        ("/v1/embeddings", {"input": "a", "model": "fake"}, {"error"}),
    ],
)
def test_every_post_needs_the_key_and_is_refused_in_its_protocols_shape(
    fake_model: FakeFillMaskTask, path: str, body: dict[str, Any], shape: set[str]
) -> None:
    with TestClient(fake_app(fake_model, api_key="s3cret")) as client:
        wait_until_ready(client)
        refused = client.post(path, json=body)
        assert refused.status_code == 401
        assert set(refused.json()) == shape
        assert "API key" in str(refused.json())
        assert client.post(path, json=body, headers={"Authorization": "Bearer s3cret"}).status_code != 401


def test_the_key_is_checked_before_the_model_name(fake_model: FakeFillMaskTask) -> None:
    """Without the key, an unknown model and a served one get the same 401: names are not probed."""
    with TestClient(fake_app(fake_model, api_key="s3cret")) as client:
        wait_until_ready(client)
        for name in ("fake", "nope"):
            assert (
                client.post(f"/v1/models/{name}:predict", json={"instances": ["a [MASK]"]}).status_code == 401
            )
            assert client.post(f"/models/{name}", json={"inputs": "a [MASK]"}).status_code == 401


def test_401s_beyond_the_burst_are_paced() -> None:
    app = fake_app(FakeFillMaskTask(), api_key="s3cret", max_refusals_per_s=10)
    admission = app.state.admission
    delays: list[float] = []
    pace = admission.refusal_delay

    def recorded_delay() -> float:
        delays.append(pace())
        return delays[-1]

    admission.refusal_delay = recorded_delay
    statuses: list[int] = []

    async def scenario() -> None:
        async with running(app) as client:
            wrong = {"Authorization": "Bearer nope"}
            for _ in range(70):
                statuses.append((await client.post("/score", json=SAMPLE_REQUEST, headers=wrong)).status_code)

    run(scenario)
    assert statuses == [401] * 70
    burst = admission_module.REFUSAL_BURST
    assert delays[:burst] == [0.0] * burst, "the burst is answered at once"
    # one after another, each refusal past the burst waits its turn: about 1/10 s after the last
    assert all(0.05 < delay <= 0.11 for delay in delays[burst:]), delays[burst:]


def test_an_empty_api_key_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValidationError, match="API_KEY is set but empty"):
        Settings(api_key="  ")
    monkeypatch.setenv("API_KEY", "")
    assert main(["serve", "--model", "fake"]) == 2
    assert capsys.readouterr().err.strip() == (
        "Invalid setting API_KEY: API_KEY is set but empty: set a key, or unset it to leave the routes open."
    )
