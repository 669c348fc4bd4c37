"""The inference lane answers exactly as FastAPI's router would, without going through it."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import app.serving.inference_lane as inference_lane
from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served

REQUESTS: list[tuple[str, Any]] = [
    ("/score", {"input_data": {"input_string": ["Paris is the [MASK] of France.", "A [MASK] day!"]}}),
    ("/score", {"input_data": {"input_string": ["no mask here"]}}),
    ("/score", {"input_data": {"columns": ["x"]}}),
    ("/score", "not json at all"),
    ("/score", {"inputs": ["\\ud800 a [MASK]"]}),
    ("/", {"inputs": "The [MASK] sat.", "parameters": {"top_k": 2}}),
    ("/", {"inputs": "The [MASK] sat.", "parameters": {"top_k": 500}}),
    ("/embed", {"inputs": ["a text"]}),
    ("/tokenize", {"inputs": "Paris is the [MASK]."}),
]


def _client(lane: bool, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    if not lane:
        monkeypatch.setattr(inference_lane, "lane_routes", lambda routes: {})
    app = create_app(
        Settings(model_id="fake-model", max_top_k=10), load_model=lambda _: served(FakeFillMaskTask())
    )
    with TestClient(app) as client:
        wait_until_ready(client)
        yield client


def _post(client: TestClient, path: str, body: Any) -> tuple[int, bytes, str | None]:
    if isinstance(body, str):
        response = client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    else:
        response = client.post(path, json=body)
    return response.status_code, response.content, response.headers.get("content-type")


def test_the_lane_takes_the_fixed_path_posts_whose_endpoints_need_nothing_from_fastapi() -> None:
    app = create_app(Settings(model_id="fake-model"), load_model=lambda _: served(FakeFillMaskTask()))
    lane = inference_lane.lane_routes(app.routes)
    assert {"/score", "/", "/embed", "/tokenize"} <= set(lane)
    assert all(route.methods == {"POST"} and "{" not in path for path, route in lane.items())
    assert "/v2/models/{model_name}/infer" not in lane and "/health/live" not in lane


def test_every_answer_and_error_through_the_lane_equals_the_routers(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        routed = [_post(client, path, body) for client in _client(False, patched) for path, body in REQUESTS]
    laned = [_post(client, path, body) for client in _client(True, monkeypatch) for path, body in REQUESTS]
    assert {status for status, _, _ in routed} >= {200, 400}  # answers and errors both compared
    assert laned == routed


def test_a_lane_request_never_reaches_the_router_and_is_counted_under_its_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the router handled a request the lane should have")

    for client in _client(True, monkeypatch):
        with monkeypatch.context() as patched:
            patched.setattr(APIRoute, "handle", refuse)
            response = client.post("/score", json=REQUESTS[0][1])
        assert response.status_code == 200 and response.headers["x-request-id"]
        metrics = client.get("/metrics").text
        assert 'bert_serving_requests_total{method="POST",route="/score",status="200"} 1.0' in metrics
