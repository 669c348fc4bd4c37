"""The data plane every protocol runs its jobs on: the input limit, the deadline and a client that leaves."""

import asyncio
import json
import threading
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import until
from tests.fakes import FakeFillMaskTask
from tests.serving.asgi_clients import call_asgi, fake_app, run, running


def test_too_many_inputs_get_413(client: TestClient) -> None:
    response = client.post("/score", json={"inputs": ["a [MASK]"] * 257})
    assert response.status_code == 413
    assert "has 257 inputs; the limit is 256" in response.json()["message"]


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
