"""WORKERS=2: a real server of two front-end processes around an engine process, against the
single-process app on the same checkpoints (answers byte for byte), and its whole-server
guarantees: the repository seen alike by every front-end, one /metrics, a front-end restarted,
the engine's death the server's, a drain on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.runtime import available_cpus
from app.serving.app import create_app
from bench.server_process import ROOT, free_port, wait_until_ready
from tests.conftest import wait_until_ready as wait_until_app_ready
from tests.live_server import ready_process
from tests.minilm import minilm_folder

pytestmark = pytest.mark.e2e

API_KEY = "workers-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "/score",
        {"input_data": {"input_string": ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]}},
    ),
    (
        "/v2/models/mlm/infer",
        {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["A [MASK]."]}]},
    ),
    ("/v1/models/tc:predict", {"instances": ["I am so happy today.", "This is awful."]}),
    (
        "/v2/models/tc/infer",
        {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["Great!"]}]},
    ),
    ("/v1/embeddings", {"model": "emb", "input": ["a", "b c"], "encoding_format": "base64"}),
    ("/v1/embeddings", {"model": "emb", "input": ["Paris is the capital of France."]}),
]


def model_args(tiny_task_dir: Callable[[str], Path]) -> list[str]:
    return [
        f"mlm={tiny_task_dir('pretraining')}",
        f"tc={tiny_task_dir('text-classification')}",
        f"emb={minilm_folder()}",
    ]


def start_server(models: list[str], workers: int, port: int, **env: str) -> "subprocess.Popen[str]":
    command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    for model in models:
        command += ["--model", model]
    return subprocess.Popen(
        [*command, "--workers", str(workers), "--default-model", "mlm"],
        cwd=ROOT,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "COMPILE": "off",
            "LOG_LEVEL": "warning",
            "MODEL_CONTROL": "explicit",
            "API_KEY": API_KEY,
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def processes_of(pid: int) -> dict[int, str]:
    """The server's children, by pid: their names (bert-front-end for a front-end)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found[int(child)] = Path(f"/proc/{child}/comm").read_text().strip()
    return found


def front_ends(pid: int) -> list[int]:
    return sorted(child for child, name in processes_of(pid).items() if name == "bert-front-end")


def engine_of(pid: int) -> int:
    return next(child for child, name in processes_of(pid).items() if name == "bert-engine")


@contextmanager
def running_server(models: list[str], **env: str) -> Iterator[tuple[str, "subprocess.Popen[str]"]]:
    """A two-front-end server, ready; stopped (SIGTERM, then SIGKILL) unless its test stopped it."""
    port = free_port()
    server = start_server(models, 2, port, **env)
    base_url = f"http://127.0.0.1:{port}"
    with ready_process(server, base_url):
        yield base_url, server


@pytest.fixture(scope="module")
def two_front_ends(tiny_task_dir: Callable[[str], Path]) -> Iterator[tuple[str, "subprocess.Popen[str]"]]:
    # Two engine instances too: the answers below must not change with them.
    with running_server(model_args(tiny_task_dir), INSTANCES="2") as started:
        yield started


@pytest.fixture(scope="module")
def one_process(tiny_task_dir: Callable[[str], Path]) -> Iterator[TestClient]:
    settings = Settings(
        models=model_args(tiny_task_dir),
        default_model="mlm",
        compile="off",
        api_key=API_KEY,
        model_control="explicit",
        instances=2,  # as the two front-ends' engine: torch's threads per batch decide fp32's last bits
    )
    with TestClient(create_app(settings)) as client:
        wait_until_app_ready(client)
        yield client


def fresh_connection_get(url: str) -> httpx.Response:
    """A new connection each time, so that any front-end may take it."""
    with httpx.Client(timeout=10) as client:
        return client.get(url)


def test_every_protocol_answers_as_the_single_process_server(
    two_front_ends: tuple[str, Any], one_process: TestClient
) -> None:
    base_url, server = two_front_ends
    assert len(front_ends(server.pid)) == 2
    for path, body in REQUESTS:
        for _ in range(3):  # fresh connections: both front-ends answer some
            with httpx.Client(timeout=30) as client:
                answer = client.post(f"{base_url}{path}", json=body, headers=AUTH)
            expected = one_process.post(path, json=body, headers=AUTH)
            assert answer.status_code == expected.status_code == 200, (path, answer.text)
            if path.startswith("/v2/"):  # each answer names its own request id
                assert {**answer.json(), "id": None} == {**expected.json(), "id": None}, path
            else:
                assert answer.content == expected.content, path


def test_errors_keep_their_status_and_words(two_front_ends: tuple[str, Any], one_process: TestClient) -> None:
    base_url, _ = two_front_ends
    cases = [
        ("/score", {"input_data": {"input_string": "not a list"}}),
        ("/v2/models/nope/infer", {"inputs": []}),
        ("/v1/models/tc:predict", {"instances": ["x" * 200_000]}),
    ]
    for path, body in cases:
        answer = httpx.post(f"{base_url}{path}", json=body, headers=AUTH, timeout=30)
        expected = one_process.post(path, json=body, headers=AUTH)
        assert answer.status_code == expected.status_code and answer.status_code in (400, 404, 413, 422)
        assert answer.json() == expected.json()


def test_metrics_are_the_whole_servers(two_front_ends: tuple[str, Any]) -> None:
    base_url, _ = two_front_ends

    def scored() -> float:
        text = fresh_connection_get(f"{base_url}/metrics").text
        lines = [line for line in text.splitlines() if line.startswith("bert_serving_requests_total{")]
        return sum(
            float(line.split()[-1]) for line in lines if 'route="/score"' in line and 'status="200"' in line
        )

    before = scored()
    for _ in range(20):
        with httpx.Client(timeout=30) as client:
            client.post(f"{base_url}/score", json=REQUESTS[0][1], headers=AUTH).raise_for_status()
    assert scored() - before == 20  # counted by whichever front-end answered, summed by any
    text = fresh_connection_get(f"{base_url}/metrics").text
    assert 'bert_serving_batch_size_count{model="mlm"}' in text  # the engine process's own series
    assert "bert_serving_models_loaded 3.0" in text
    assert "bert_serving_engine_instances 2.0" in text


def test_every_front_end_reports_the_engines_instances(two_front_ends: tuple[str, Any]) -> None:
    base_url, _ = two_front_ends
    threads = max(1, available_cpus() // 2)
    for _ in range(6):  # fresh connections: either front-end may answer
        engine = fresh_connection_get(f"{base_url}/health/ready").json()["engine"]
        assert engine == {"instances": 2, "threads_per_instance": threads}


def test_an_unload_and_a_load_reach_every_front_end(two_front_ends: tuple[str, Any]) -> None:
    base_url, _ = two_front_ends

    def states() -> set[str]:
        seen = set()
        for _ in range(8):
            index = httpx.post(f"{base_url}/v2/repository/index", headers=AUTH, json={}, timeout=10).json()
            seen.add(next(entry["state"] for entry in index if entry["name"] == "tc"))
        return seen

    httpx.post(f"{base_url}/v2/repository/models/tc/unload", headers=AUTH, timeout=30).raise_for_status()
    time.sleep(2.5)  # a front-end follows the engine within a second
    assert states() == {"UNAVAILABLE"}
    refused = httpx.post(
        f"{base_url}/v1/models/tc:predict", json={"instances": ["Great!"]}, headers=AUTH, timeout=10
    )
    assert refused.status_code in (404, 503)
    httpx.post(f"{base_url}/v2/repository/models/tc/load", headers=AUTH, timeout=60).raise_for_status()
    time.sleep(2.5)
    assert states() == {"READY"}
    for _ in range(4):
        with httpx.Client(timeout=30) as client:
            client.post(
                f"{base_url}/v1/models/tc:predict", json={"instances": ["Great!"]}, headers=AUTH
            ).raise_for_status()


def test_a_front_end_that_dies_is_replaced(two_front_ends: tuple[str, Any]) -> None:
    base_url, server = two_front_ends
    victim = front_ends(server.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        alive = front_ends(server.pid)
        if len(alive) == 2 and victim not in alive:
            break
        time.sleep(0.2)
    assert len(front_ends(server.pid)) == 2 and victim not in front_ends(server.pid)
    wait_until_ready(base_url, server, timeout_s=60)
    for _ in range(10):
        with httpx.Client(timeout=30) as client:
            assert client.post(f"{base_url}/score", json=REQUESTS[0][1], headers=AUTH).status_code == 200


def test_sigterm_drains_and_exits_cleanly(tiny_task_dir: Callable[[str], Path]) -> None:
    with running_server([f"mlm={tiny_task_dir('pretraining')}"]) as (base_url, server):
        children = processes_of(server.pid)
        long_text = " ".join(["The city of Paris is the capital of France."] * 40) + " It is [MASK]."
        body = {"input_data": {"input_string": [long_text] * 256}}  # seconds of work, even for a tiny model
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.post, f"{base_url}/score", json=body, headers=AUTH, timeout=60)
            time.sleep(0.3)
            assert not in_flight.done()
            server.send_signal(signal.SIGTERM)
            assert in_flight.result().status_code == 200  # answered before its front-end stopped
        assert server.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{child}").exists() for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(Path(f"/proc/{child}").exists() for child in children)


def test_the_engine_dying_stops_the_server_non_zero(tiny_task_dir: Callable[[str], Path]) -> None:
    with running_server([f"mlm={tiny_task_dir('pretraining')}"]) as (_, server):
        os.kill(engine_of(server.pid), signal.SIGKILL)
        assert server.wait(timeout=60) != 0
        output = server.stdout.read() if server.stdout else ""
    assert "engine process exited" in output


def test_a_model_that_cannot_load_stops_the_server_non_zero(tmp_path: Path) -> None:
    server = start_server([f"mlm={tmp_path / 'missing'}"], 2, free_port())
    try:
        assert server.wait(timeout=120) != 0
    finally:
        server.kill()


def test_no_process_outlives_a_supervisor_killed_outright(tiny_task_dir: Callable[[str], Path]) -> None:
    with running_server([f"mlm={tiny_task_dir('pretraining')}"]) as (_, server):
        children = processes_of(server.pid)
        assert set(children.values()) >= {"bert-engine", "bert-front-end"}
        server.kill()  # SIGKILL: no drain, no clean-up of its own
        server.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{child}").exists() for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(Path(f"/proc/{child}").exists() for child in children)


def test_admission_refuses_past_each_front_ends_share(tiny_task_dir: Callable[[str], Path]) -> None:
    """MAX_CONCURRENT_REQUESTS=2 is one request in flight per front-end: of 12 slow requests at
    once, those past it are refused at once with 429 and Retry-After, the rest answered, none 5xx;
    refusals are counted in the one /metrics and health is never refused."""
    models = [f"mlm={tiny_task_dir('pretraining')}"]
    with running_server(models, MAX_CONCURRENT_REQUESTS="2", MAX_REFUSALS_PER_S="1000") as (base_url, _):
        long_text = " ".join(["The city of Paris is the capital of France."] * 40) + " It is [MASK]."
        body = {"input_data": {"input_string": [long_text] * 64}}

        def post() -> httpx.Response:
            with httpx.Client(timeout=60) as client:  # a connection of its own: any front-end takes it
                return client.post(f"{base_url}/score", json=body, headers=AUTH)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: post(), range(12)))
            assert fresh_connection_get(f"{base_url}/health/live").status_code == 200
        statuses = sorted(answer.status_code for answer in answers)
        refused = [answer for answer in answers if answer.status_code == 429]
        assert set(statuses) == {200, 429} and 2 <= statuses.count(200) <= 10, statuses
        assert all(answer.headers["retry-after"] == "1" for answer in refused)
        assert all("1 requests in flight" in answer.json()["message"] for answer in refused)
        text = fresh_connection_get(f"{base_url}/metrics").text
        assert f"bert_serving_requests_refused_total {float(len(refused))}" in text
