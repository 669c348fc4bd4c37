"""The API key: /score needs the bearer token, health stays open."""

from fastapi.testclient import TestClient

from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask
from tests.serving.asgi_clients import fake_app


def test_with_an_api_key_score_needs_the_bearer_token_and_health_stays_open(
    fake_model: FakeFillMaskTask,
) -> None:
    with TestClient(fake_app(fake_model, api_key="s3cret")) as client:
        wait_until_ready(client)
        missing = client.post("/score", json=SAMPLE_REQUEST)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/score", json=SAMPLE_REQUEST, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.post("/score", json=SAMPLE_REQUEST, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert client.get("/health/ready").status_code == 200
        assert client.get("/").status_code == 200
