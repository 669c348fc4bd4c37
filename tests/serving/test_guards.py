"""Body limits: 413 by Content-Length or while streaming, and a client gone while its body is read."""

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask
from tests.serving.asgi_clients import call_asgi, fake_app, run, running


def test_a_body_over_the_limit_gets_413_by_its_content_length(fake_model: FakeFillMaskTask) -> None:
    with TestClient(fake_app(fake_model, max_payload_bytes=1000)) as client:
        wait_until_ready(client)
        response = client.post("/score", json={"inputs": ["x [MASK] " * 200]})
        assert response.status_code == 413
        assert "the limit is 1000" in response.json()["message"]


def test_a_streamed_body_over_the_limit_gets_413_without_reading_it_all() -> None:
    app = fake_app(FakeFillMaskTask(), max_payload_bytes=5000)
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"[" * 1000, "more_body": received < 10_000}

    async def scenario() -> None:
        async with running(app):
            sent = await call_asgi(app, receive, headers=[])  # chunked: no content-length
            assert sent[0]["status"] == 413
            assert b"over the limit of 5000 bytes" in sent[1]["body"]
            assert received <= 6

    run(scenario)


def test_a_client_gone_while_its_body_is_read_is_a_499_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = fake_app(FakeFillMaskTask())
    messages = [
        {"type": "http.disconnect"},
        {"type": "http.request", "body": b'{"inputs": [', "more_body": True},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop()

    async def scenario() -> None:
        async with running(app) as client:
            with caplog.at_level(logging.INFO):
                sent = await call_asgi(app, receive, headers=[(b"content-type", b"application/json")])
            assert sent[0]["status"] == 499
            metrics = (await client.get("/metrics")).text
            assert 'bert_serving_requests_total{method="POST",route="/score",status="499"} 1.0' in metrics
            assert 'status="500"' not in metrics
        assert not [r for r in caplog.records if r.exc_info], "no traceback is logged"
        access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]
        assert [line["status"] for line in access if line["route"] == "/score"] == [499]

    run(scenario)
