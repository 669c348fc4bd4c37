"""A dead inference worker turns readiness 503 and stops the process."""

import threading

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.engine import engine as engine_module
from app.serving.app import create_app
from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served


def test_a_dead_worker_turns_ready_503_and_stops_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = threading.Event()
    fake = FakeFillMaskTask()
    app = create_app(Settings(model_id="fake"), load_model=lambda _: served(fake), on_fatal=stopped.set)
    with TestClient(app) as client:
        wait_until_ready(client)

        def broken_policy(*_: object) -> list[int]:
            raise RuntimeError("policy bug")

        monkeypatch.setattr(engine_module, "select_batch", broken_policy)
        response = client.post("/score", json=SAMPLE_REQUEST)
        assert response.status_code == 503
        assert stopped.wait(5)
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["message"] == "The inference worker died: policy bug", "no class (EXPOSE_DETAILS)"
