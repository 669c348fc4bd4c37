import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.runtime import cpu_supports_bf16
from app.serving.app import create_app
from tests.fakes import FakeFillMaskTask, served
from tests.live_server import SERVER_LAYOUTS, server_in_layout
from tests.paths import REPO_ROOT
from tests.tiny_bert import build_tiny_bert, build_tiny_task_model

# A real hardware condition: bf16 weights run only where oneDNN has bf16 kernels for this CPU.
needs_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="bf16 weights need a CPU with bf16 support")

SHARED = REPO_ROOT.parent / "shared"

# Compiling costs seconds per graph even on a tiny BERT; the servers, batch jobs and evaluations
# the tests start (in process or as subprocesses) run eager unless a test asks for COMPILE itself.
os.environ.setdefault("COMPILE", "off")


def wait_until_ready(client: TestClient, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/health/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"not ready after {timeout_s} s: {client.get('/health/ready').json()}")


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    """Wait, inside an event loop, until the condition holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.005)


def interrupt_at_call(monkeypatch: pytest.MonkeyPatch, target: Any, method: str, call: int) -> None:
    """The `call`-th call of `target.method` raises KeyboardInterrupt, as a power cut would."""
    original = getattr(target, method)
    calls = 0

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call:
            raise KeyboardInterrupt("power cut")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, method, interrupted)


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared beside the checkout, with Azure's sample requests and real datasets."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared is not beside this checkout")
    return SHARED


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_task_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`tiny_task_dir("question-answering")`: a tiny checkpoint with that head, built once per session."""
    built: dict[str, Path] = {}

    def build(task: str) -> Path:
        if task not in built:
            built[task] = build_tiny_task_model(tmp_path_factory.mktemp(f"tiny-{task}"), task)
        return built[task]

    return build


@pytest.fixture(scope="session")
def trainable_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny masked LM with BERT's own initialisation, the base the fine-tuning tests train."""
    return build_tiny_task_model(
        tmp_path_factory.mktemp("trainable-bert"), "fill-mask", initializer_range=0.02
    )


@pytest.fixture(scope="session")
def fill_mask_pipeline(tiny_bert_dir: Path) -> Any:
    """The correctness oracle: transformers' own fill-mask pipeline on the same checkpoint."""
    from transformers import pipeline

    return pipeline("fill-mask", model=str(tiny_bert_dir), device="cpu")


@pytest.fixture(scope="session", params=SERVER_LAYOUTS)
def tiny_bert_client(request: pytest.FixtureRequest, tiny_bert_dir: Path) -> Iterator[httpx.Client]:
    """The real code path: the server loads the tiny checkpoint as it would bert-base-cased; in
    one process, and with two front-end processes around an engine process."""
    with (
        server_in_layout(request.param, model_id=str(tiny_bert_dir)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as client,
    ):
        yield client


@pytest.fixture
def fake_model() -> FakeFillMaskTask:
    return FakeFillMaskTask()


@pytest.fixture
def fake_app(fake_model: FakeFillMaskTask) -> FastAPI:
    return create_app(Settings(model_id="fake-model", max_top_k=10), load_model=lambda _: served(fake_model))


@pytest.fixture
def client(fake_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(fake_app) as client:
        wait_until_ready(client)
        yield client
