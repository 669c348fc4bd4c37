"""Admission over HTTP: 429 at once past MAX_CONCURRENT_REQUESTS, no body read, paced refusals."""

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from app.serving import admission as admission_module
from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.conftest import until
from tests.fakes import FakeFillMaskTask
from tests.serving.asgi_clients import call_asgi, fake_app, run, running


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
