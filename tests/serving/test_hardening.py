"""Overload, limits, deadlines, disconnects, ids, logs, metrics, auth and a dying worker, over HTTP."""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.engine import engine as engine_module
from app.serving import admission as admission_module
from app.serving.app import create_app
from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.conftest import until, wait_until_ready
from tests.fakes import FakeFillMaskTask, served


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, and a client that can have many requests in flight at once."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            for _ in range(500):
                if (await client.get("/health/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            yield client


def fake_app(fake: FakeFillMaskTask, **settings: Any) -> FastAPI:
    return create_app(
        Settings(model_id="fake", **settings), load_model=lambda _: served(fake), on_fatal=lambda: None
    )


async def call_asgi(
    app: FastAPI, receive: Callable[[], Awaitable[dict[str, Any]]], headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """POST /score at the ASGI level, where a test controls how the body arrives and when the
    client goes away; returns the messages the app sent."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/score",
        "raw_path": b"/score",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    return sent


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def test_requests_beyond_max_concurrent_get_429_at_once_with_retry_after() -> None:
    fake = FakeFillMaskTask()

    async def scenario() -> None:
        app = fake_app(fake, max_concurrent_requests=3)
        async with running(app) as client:
            fake.gate = threading.Event()
            held = [asyncio.ensure_future(client.post("/score", json=SAMPLE_REQUEST)) for _ in range(3)]
            await until(lambda: fake.holding.is_set() and app.state.admission.in_flight == 3)
            refused = await asyncio.wait_for(client.post("/score", json=SAMPLE_REQUEST), timeout=2)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert "3 requests in flight" in refused.json()["message"]
            assert (await client.get("/health/live")).status_code == 200, "health is never refused"
            fake.gate.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200, 200]
            assert (await client.post("/score", json=SAMPLE_REQUEST)).status_code == 200
            assert "bert_serving_requests_refused_total 1.0" in (await client.get("/metrics")).text

    run(scenario)


def test_a_refusal_reads_no_body_and_logs_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeFillMaskTask()
    app = fake_app(fake, max_concurrent_requests=1)
    body_reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal body_reads
        body_reads += 1
        return {"type": "http.request", "body": json.dumps(SAMPLE_REQUEST).encode(), "more_body": False}

    async def scenario() -> None:
        async with running(app) as client:
            fake.gate = threading.Event()
            held = asyncio.ensure_future(client.post("/score", json=SAMPLE_REQUEST))
            await until(fake.holding.is_set)
            with caplog.at_level(logging.INFO):
                statuses = [(await call_asgi(app, receive, headers=[]))[0]["status"] for _ in range(50)]
            fake.gate.set()
            assert (await held).status_code == 200
        assert statuses == [429] * 50
        assert body_reads == 0, "a refused request's body is never read"
        assert not [r for r in caplog.records if r.name == "app.access"], "no access line per refusal"
        warnings = [r.getMessage() for r in caplog.records if r.name == "app.serving.admission"]
        assert len(warnings) == 1 and "refused 1 request(s)" in warnings[0]

    run(scenario)


def test_too_many_inputs_get_413(client: TestClient) -> None:
    response = client.post("/score", json={"inputs": ["a [MASK]"] * 257})
    assert response.status_code == 413
    assert "has 257 inputs; the limit is 256" in response.json()["message"]


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


def test_queued_work_past_its_deadline_is_dropped_and_answered_504() -> None:
    fake = FakeFillMaskTask()

    async def scenario() -> None:
        async with running(fake_app(fake, request_timeout_ms=300)) as client:
            fake.gate = threading.Event()
            first = asyncio.ensure_future(client.post("/score", json={"inputs": ["first [MASK]"]}))
            await until(fake.holding.is_set)
            late = await client.post("/score", json={"inputs": ["late [MASK]", "late too [MASK]"]})
            assert late.status_code == 504
            assert "300 ms" in late.json()["message"]
            batches_before = len(fake.batches)
            fake.gate.set()
            assert (await first).status_code == 504  # its batch ran, but past the deadline
            assert (await client.post("/score", json={"inputs": ["next [MASK]"]})).status_code == 200
            assert fake.batches[batches_before:] == [1, 1], "the late inputs never reached the model"

    run(scenario)


def test_work_of_a_client_that_went_away_is_dropped_before_compute() -> None:
    fake = FakeFillMaskTask()
    app = fake_app(fake)

    async def scenario() -> None:
        async with running(app) as client:
            fake.gate = threading.Event()
            holder = asyncio.ensure_future(client.post("/score", json={"inputs": ["hold [MASK]"]}))
            await until(fake.holding.is_set)
            body = json.dumps({"inputs": ["gone [MASK]"] * 4}).encode()
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            gone = asyncio.Event()

            async def receive() -> dict[str, Any]:
                if messages:
                    return messages.pop()
                await gone.wait()  # as a server does: the disconnect arrives once the client left
                return {"type": "http.disconnect"}

            asyncio.get_running_loop().call_later(0.1, gone.set)
            sent = await call_asgi(app, receive, headers=[(b"content-type", b"application/json")])
            assert sent[0]["status"] == 499
            fake.gate.set()
            await holder
            assert (await client.post("/score", json={"inputs": ["after [MASK]"]})).status_code == 200
            assert 4 not in fake.batches, "the abandoned inputs never reached the model"

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


def test_metrics_count_requests_batches_and_load_time(client: TestClient) -> None:
    client.post("/score", json=SAMPLE_REQUEST)
    client.post("/score", json={"inputs": []})
    client.get("/nowhere")
    client.get("/")
    text = client.get("/metrics").text
    assert 'bert_serving_requests_total{method="GET",route="/",status="200"} 1.0' in text, "apart from POST /"
    assert 'bert_serving_requests_total{method="POST",route="/score",status="200"} 1.0' in text
    assert 'bert_serving_requests_total{method="POST",route="/score",status="400"} 1.0' in text
    assert 'bert_serving_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'bert_serving_request_duration_seconds_count{method="POST",route="/score"} 2.0' in text
    assert "bert_serving_batch_size_count" in text and "bert_serving_batch_tokens_sum" in text
    assert "bert_serving_queue_inputs 0.0" in text
    assert "bert_serving_requests_in_flight 0.0" in text
    busy = next(
        line for line in text.splitlines() if line.startswith("bert_serving_model_busy_seconds_total ")
    )
    assert float(busy.split()[1]) > 0
    load_seconds = next(
        line for line in text.splitlines() if line.startswith("bert_serving_model_load_seconds ")
    )
    assert float(load_seconds.split()[1]) > 0


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
        assert ready.status_code == 503 and "worker died" in ready.json()["message"]


def test_refusals_beyond_the_burst_are_paced_to_the_configured_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(admission_module.time, "monotonic", lambda: clock[0])
    admission = admission_module.AdmissionControl(limit=1, refusals_per_s=100)
    burst = admission_module.REFUSAL_BURST
    delays = [admission.refusal_delay() for _ in range(burst + 3)]
    assert delays[:burst] == [0.0] * burst, "a burst is answered at once"
    assert delays[burst:] == pytest.approx([0.01, 0.02, 0.03]), "then one per 1/100 s"
    clock[0] += 10  # a quiet spell refills the burst
    assert admission.refusal_delay() == 0.0
    many = [admission.refusal_delay() for _ in range(10_000)]
    assert max(many) == admission_module.MAX_REFUSAL_DELAY_S, "no refusal waits longer than the cap"
