"""Many models on one server, with fakes for the weights: names, states, the default model, loading
and unloading at run time (in-flight requests answered), a failed model that takes no other down,
the budget of loaded models, and the repository routes behind the API key."""

import asyncio
import gc
import json
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.errors import ModelLoadError
from app.model_source import ModelSource
from app.serving.app import create_app
from app.tasks.checkpoint import ServedModel
from tests.conftest import until
from tests.fakes import FakeFillMaskTask, served
from tests.serving.asgi_clients import running

pytestmark = pytest.mark.anyio  # the async tests run on asyncio (anyio's default backend)
BODY = {"inputs": "Paris is the [MASK] of France."}


def repository_app(
    names: list[str], fakes: dict[str, FakeFillMaskTask] | None = None, **settings: Any
) -> tuple[FastAPI, dict[str, FakeFillMaskTask], list[str]]:
    """An app serving a fake per name (source `fake-<name>`); `broken` fails to load; model control
    on, behind the key "secret" (which `running` sends). Returns the fakes by name and the sources
    loaded, in order."""
    fakes = fakes if fakes is not None else {}
    loads: list[str] = []

    def load(source: ModelSource) -> ServedModel:
        loads.append(source.model)
        name = source.model.removeprefix("fake-")
        if name == "broken":
            raise ModelLoadError("Model folder 'fake-broken' has no config.json.")
        fakes[name] = fakes.get(name) or FakeFillMaskTask()
        return served(fakes[name])

    models = [f"{name}=fake-{name}" for name in names]
    settings = {"model_control": "explicit", "api_key": "secret"} | settings
    app = create_app(Settings(models=models, **settings), load_model=load, on_fatal=lambda: None)
    return app, fakes, loads


async def test_each_model_answers_by_its_name_and_the_first_is_the_default() -> None:
    app, fakes, _ = repository_app(["a", "b"])
    async with running(app) as client:
        assert (await client.post("/models/b", json=BODY)).status_code == 200
        assert (await client.post("/", json=BODY)).status_code == 200
        assert (
            await client.post("/v1/models/a:predict", json={"instances": [BODY["inputs"]]})
        ).status_code == 200
        ready = (await client.get("/health/ready")).json()
        assert [(model["name"], model["state"]) for model in ready["models"]] == [
            ("a", "READY"),
            ("b", "READY"),
        ]
    # warm-up ran on each; then /models/b reached b alone, POST / and /v1/models/a reached a
    assert len(fakes["b"].calls) - len(fakes["a"].calls) == -1


async def test_default_model_chooses_who_answers_the_unnamed_routes() -> None:
    app, fakes, _ = repository_app(["a", "b"], default_model="b")
    async with running(app) as client:
        before = {name: len(fake.calls) for name, fake in fakes.items()}
        score = await client.post("/score", json={"input_data": {"input_string": [BODY["inputs"]]}})
        assert score.status_code == 200
    assert {name: len(fake.calls) - before[name] for name, fake in fakes.items()} == {"a": 0, "b": 1}


def test_a_default_model_that_is_not_served_stops_the_start() -> None:
    stopped = threading.Event()
    app = create_app(
        Settings(models=["a=fake-a"], default_model="z"), load_model=lambda _: None, on_fatal=stopped.set
    )
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        assert stopped.wait(5)
        message = client.get("/health/ready").json()["message"]
    assert "DEFAULT_MODEL=z is none of the served models (a)" in message


async def test_unknown_names_get_each_protocols_404() -> None:
    app, _, _ = repository_app(["a", "b"])
    async with running(app) as client:
        v2 = await client.post("/v2/models/nope/infer", json={"inputs": []})
        v1 = await client.post("/v1/models/nope:predict", json={"instances": ["x"]})
        hf = await client.post("/models/nope", json=BODY)
        openai = await client.post("/v1/embeddings", json={"input": "x", "model": "nope"})
        load = await client.post("/v2/repository/models/nope/load")
    assert v2.status_code == v1.status_code == hf.status_code == openai.status_code == load.status_code == 404
    assert v2.json() == hf.json() == {"error": "Unknown model 'nope'; this server serves 'a', 'b'."}
    assert v1.json() == {"error": "Model with name nope does not exist."}
    assert openai.json()["error"]["code"] == "model_not_found"


async def test_a_model_that_fails_to_load_is_reported_and_takes_no_other_down() -> None:
    app, _, _ = repository_app(["a", "broken"])
    async with running(app) as client:
        assert (await client.post("/models/a", json=BODY)).status_code == 200
        broken = await client.post("/models/broken", json=BODY)
        index = (await client.post("/v2/repository/index")).json()
        ready = await client.get("/health/ready")
        again = await client.post("/v2/repository/models/broken/load")
    assert broken.status_code == 503 and "has no config.json" in broken.json()["error"]
    assert index == [
        {"name": "a", "version": "1", "state": "READY", "reason": ""},
        {
            "name": "broken",
            "version": "1",
            "state": "UNAVAILABLE",
            "reason": "Model folder 'fake-broken' has no config.json.",
        },
    ]
    assert ready.status_code == 200  # the default model serves
    assert again.status_code == 400
    assert again.json() == {
        "error": "failed to load 'broken': Model folder 'fake-broken' has no config.json."
    }


async def test_requests_to_one_model_keep_answering_while_another_loads_and_unloads() -> None:
    app, _, loads = repository_app(["a", "b"])
    statuses: list[int] = []
    async with running(app) as client:
        stop = asyncio.Event()

        async def keep_asking() -> None:
            while not stop.is_set():
                statuses.append((await client.post("/models/a", json=BODY)).status_code)

        askers = [asyncio.create_task(keep_asking()) for _ in range(4)]
        for _ in range(10):
            assert (await client.post("/v2/repository/models/b/unload")).status_code == 200
            assert (await client.post("/models/b", json=BODY)).status_code == 503
            assert (await client.post("/v2/repository/models/b/load")).status_code == 200
            assert (await client.post("/models/b", json=BODY)).status_code == 200
        stop.set()
        await asyncio.gather(*askers)
    assert len(statuses) > 20 and set(statuses) == {200}
    assert loads.count("fake-b") == 11  # b's weights were let go and loaded again each time


async def test_an_unload_answers_the_requests_in_flight_first() -> None:
    fakes = {"b": FakeFillMaskTask()}
    app, _, _ = repository_app(["a", "b"], fakes)
    async with running(app) as client:
        gate = fakes["b"].gate = threading.Event()
        in_flight = [asyncio.create_task(client.post("/models/b", json=BODY)) for _ in range(6)]
        await until(fakes["b"].holding.is_set)
        unload = asyncio.create_task(client.post("/v2/repository/models/b/unload"))
        await until(lambda: "UNLOADING" in str(app.state.serving.repository.index()))
        refused = await client.post("/models/b", json=BODY)  # a new request is not let in
        assert not unload.done()
        gate.set()
        answers = await asyncio.gather(*in_flight)
        assert (await unload).status_code == 200
        after = await client.post("/models/b", json=BODY)
    assert [answer.status_code for answer in answers] == [200] * 6
    assert refused.status_code == 503 and "being unloaded" in refused.json()["error"]
    assert after.status_code == 503 and after.json()["error"] == "The model 'b' is not loaded: unloaded"


async def test_one_model_at_its_request_limit_is_refused_while_another_serves() -> None:
    fakes = {"a": FakeFillMaskTask()}
    app, _, _ = repository_app(["a", "b"], fakes, max_requests_per_model=2)
    async with running(app) as client:
        gate = fakes["a"].gate = threading.Event()
        held = [asyncio.create_task(client.post("/models/a", json=BODY)) for _ in range(2)]
        await until(fakes["a"].holding.is_set)
        refused = await client.post("/models/a", json=BODY)
        other = asyncio.create_task(client.post("/models/b", json=BODY))  # queued behind a's batch
        gate.set()
        answers = await asyncio.gather(*held, other)
    assert refused.status_code == 429 and "The model 'a' has 2 requests in flight" in refused.json()["error"]
    assert [answer.status_code for answer in answers] == [200, 200, 200]


async def test_a_body_still_arriving_holds_no_slot_of_its_model() -> None:
    app, _, _ = repository_app(["a"], max_requests_per_model=1)
    rest_of_body = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"inputs": '
        await rest_of_body.wait()
        yield json.dumps(BODY["inputs"]).encode() + b"}"

    async with running(app) as client:
        slow = asyncio.create_task(client.post("/models/a", content=slow_body()))
        await until(lambda: app.state.admission.pending_bodies == 1)
        meanwhile = await client.post("/models/a", json=BODY)
        rest_of_body.set()
        assert meanwhile.status_code == 200, "MAX_REQUESTS_PER_MODEL=1 left to the request that sent its body"
        assert (await slow).status_code == 200


async def test_beyond_max_loaded_models_the_least_recently_used_goes_and_comes_back_on_demand() -> None:
    app, _, loads = repository_app(["a", "b", "c"], max_loaded_models=2)
    async with running(app) as client:
        states: Callable[[], Any] = lambda: [m["state"] for m in app.state.serving.repository.index()]  # noqa: E731
        assert states() == ["UNAVAILABLE", "READY", "READY"]  # c's load unloaded a, the oldest
        assert (await client.post("/models/b", json=BODY)).status_code == 200
        assert (await client.post("/models/a", json=BODY)).status_code == 200  # loaded again for it
        assert states() == ["READY", "READY", "UNAVAILABLE"]  # c was the least recently used
        index = (await client.post("/v2/repository/index")).json()
    assert loads == ["fake-a", "fake-b", "fake-c", "fake-a"]
    assert "MAX_LOADED_MODELS" in index[2]["reason"]


@pytest.mark.parametrize(
    "path", ["/v2/repository/index", "/v2/repository/models/a/unload", "/v2/repository/models/a/load"]
)
async def test_the_repository_routes_need_the_api_key(path: str) -> None:
    app, _, _ = repository_app(["a"])
    async with running(app) as client:
        refused = await client.post(path, headers={"Authorization": ""})
        allowed = await client.post(path, headers={"Authorization": "Bearer secret"})
    assert refused.status_code == 401 and "error" in refused.json()
    assert allowed.status_code == 200


async def test_the_index_can_list_only_the_ready_models() -> None:
    app, _, _ = repository_app(["a", "broken"])
    async with running(app) as client:
        index = await client.post("/v2/repository/index", json={"ready": True})
        wrong = await client.post("/v2/repository/index", json={"ready": "maybe"})
    assert [entry["name"] for entry in index.json()] == ["a"]
    assert wrong.status_code == 400 and "ready" in wrong.json()["error"]


async def test_a_load_asked_during_an_unload_waits_for_it_then_loads_afresh() -> None:
    fakes = {"b": FakeFillMaskTask()}
    app, _, loads = repository_app(["a", "b"], fakes)
    async with running(app) as client:
        gate = fakes["b"].gate = threading.Event()
        in_flight = asyncio.create_task(client.post("/models/b", json=BODY))
        await until(fakes["b"].holding.is_set)
        unload = asyncio.create_task(client.post("/v2/repository/models/b/unload"))
        await until(lambda: "UNLOADING" in str(app.state.serving.repository.index()))
        load = asyncio.create_task(client.post("/v2/repository/models/b/load"))
        await asyncio.sleep(0.05)
        assert not load.done()  # waits for the unload, which waits for the request in flight
        gate.set()
        statuses = [(await task).status_code for task in (in_flight, unload, load)]
        after = await client.post("/models/b", json=BODY)
    assert statuses == [200, 200, 200] and after.status_code == 200
    assert loads.count("fake-b") == 2


async def test_a_loaded_model_is_out_of_the_collectors_sight_and_an_unloaded_one_is_collected() -> None:
    held: list[weakref.ref[FakeFillMaskTask]] = []

    def load(source: ModelSource) -> ServedModel:
        fake = FakeFillMaskTask()
        fake.itself = fake  # type: ignore[attr-defined]  # a cycle: only the collector frees it
        held.append(weakref.ref(fake))
        return served(fake)

    settings = Settings(models=["a=fake-a", "b=fake-b"], model_control="explicit", api_key="secret")
    app = create_app(settings, load_model=load, on_fatal=lambda: None)
    try:
        async with running(app) as client:
            assert (await client.post("/models/b", json=BODY)).status_code == 200
            assert gc.get_freeze_count() > 0
            assert (await client.post("/v2/repository/models/b/unload")).status_code == 200
            assert held[1]() is None  # frozen once loaded, yet collected when let go
            assert held[0]() is not None and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
