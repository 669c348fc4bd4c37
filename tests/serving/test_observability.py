"""Request ids and the one JSON log line per request."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from app.serving.azure.schemas import SAMPLE_REQUEST


def test_request_ids_are_echoed_or_created(client: TestClient) -> None:
    echoed = client.post(
        "/score", json=SAMPLE_REQUEST, headers={"x-request-id": "abc-123", "x-ms-client-request-id": "c-9"}
    )
    assert echoed.headers["x-request-id"] == "abc-123"
    assert echoed.headers["x-ms-client-request-id"] == "c-9"
    created = client.get("/health/live")
    assert len(created.headers["x-request-id"]) == 32
    forged = client.get("/health/live", headers={"x-request-id": "a\tb{json}" * 3})
    assert forged.headers["x-request-id"] != "a\tb{json}" * 3


def test_one_json_log_line_per_request_without_input_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.post("/score", json={"inputs": ["secret words [MASK]"]}, headers={"x-request-id": "req-1"})
        client.post("/score", json={"inputs": []})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]
    assert (lines[0]["request_id"], lines[0]["route"], lines[0]["status"]) == (
        "req-1",
        "/score",
        200,
    )
    assert lines[1]["status"] == 400 and lines[0]["inputs"] == 1
    assert all(line["latency_ms"] >= 0 for line in lines)
    assert "secret words" not in caplog.text
