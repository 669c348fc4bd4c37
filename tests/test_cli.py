"""End to end: `python -m app serve` as a real process on a free port."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import build_parser, settings_from
from bench.server_process import free_port, wait_until_ready
from tests.paths import REPO_ROOT
from tests.tiny_bert import EMOTION_LABELS

pytestmark = pytest.mark.e2e

ROOT = REPO_ROOT


def offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "AZUREML_MODEL_DIR", "PORT", "HOST")}
    env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **extra)
    return env


@dataclass
class ServedProcess:
    base_url: str
    log_lines: list[str]


@pytest.fixture
def served(tiny_bert_dir: Path, tmp_path: Path) -> Iterator[ServedProcess]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--model", str(tiny_bert_dir), "--host", "127.0.0.1"],
        cwd=ROOT,
        env=offline_env(PORT=str(port), HF_HOME=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log_lines: list[str] = []
    assert process.stdout is not None
    # Read the log as it comes, so the pipe never fills and the test can look at it.
    reader = threading.Thread(target=lambda: log_lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, process, timeout_s=90)
        yield ServedProcess(base_url, log_lines)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_served_process_answers_the_sample_request_like_the_pipeline(
    served: ServedProcess, fill_mask_pipeline: Any
) -> None:
    sample = json.loads((ROOT / "sample_request.json").read_text())
    response = httpx.post(f"{served.base_url}/score", json=sample, timeout=30)
    assert response.status_code == 200
    expected = [
        {"0": fill_mask_pipeline(text, top_k=1)[0]["token_str"]}
        for text in sample["input_data"]["input_string"]
    ]
    assert response.json() == expected
    assert httpx.get(served.base_url, timeout=5).text == "Healthy"


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--model", "/nonexistent/bert"], {}, "Model folder '/nonexistent/bert' has no config.json"),
        ([], {}, "Could not load model 'bert-base-cased'"),
    ],
)
def test_missing_model_exits_non_zero_with_one_clear_message(
    tmp_path: Path, args: list[str], env: dict[str, str], fragment: str
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(free_port()), *args],
        cwd=ROOT,
        env=offline_env(HF_HOME=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert fragment in output
    assert "To fix" in output or "Point --model" in output
    assert "Traceback" not in output


def test_a_masked_lm_served_as_a_classifier_exits_non_zero_saying_why(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    model = ["--model", str(tiny_bert_dir), "--task", "text-classification"]
    completed = subprocess.run(
        [sys.executable, "-m", "app", "serve", *model, "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=ROOT,
        env=offline_env(HF_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1
    assert "no trained weights for the text-classification head" in output
    assert "Traceback" not in output


def test_a_classifier_checkpoint_is_served_as_a_classifier(
    tiny_task_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """As a new user would: point `serve` at a BertForSequenceClassification folder."""
    port = free_port()
    model = ["--model", str(tiny_task_dir("text-classification"))]
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", *model, "--host", "127.0.0.1"],
        cwd=ROOT,
        env=offline_env(PORT=str(port), HF_HOME=str(tmp_path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, process, timeout_s=90)
        ready = httpx.get(f"{base_url}/health/ready", timeout=5).json()
        assert ready["tasks"] == ["text-classification"] and ready["labels"] == EMOTION_LABELS
        body = {"inputs": {"input_string": ["i feel happy", "i am scared"]}}
        answers = httpx.post(f"{base_url}/score", json=body, timeout=30).json()
        assert [set(answer) for answer in answers] == [{"0"}, {"0"}]
        assert all(answer["0"] in EMOTION_LABELS for answer in answers)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_flags_override_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    monkeypatch.setenv("MODEL_ID", "from-env")
    settings = settings_from(build_parser().parse_args(["serve", "--model", "from-flag"]))
    assert (settings.model_id, settings.port) == ("from-flag", 7000)


def test_console_script_is_declared() -> None:
    assert 'bert-fill-mask = "app.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_sigterm_drains_accepted_requests_then_exits_0(tiny_bert_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--model", str(tiny_bert_dir), "--host", "127.0.0.1"],
        cwd=ROOT,
        # Batches wait 1.5 s for company, so the requests are still queued when SIGTERM lands.
        env=offline_env(PORT=str(port), HF_HOME=str(tmp_path), MAX_WAIT_MS="1500", MAX_BATCH_SIZE="64"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_ready(base_url, process, timeout_s=90)
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = [
                pool.submit(
                    httpx.post, f"{base_url}/score", json={"inputs": [f"the dog {i} [MASK] ."]}, timeout=30
                )
                for i in range(10)
            ]
            deadline = time.monotonic() + 10
            while "bert_serving_requests_in_flight 10.0" not in httpx.get(f"{base_url}/metrics").text:
                assert time.monotonic() < deadline, "the requests never got in flight"
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # Draining: the accepted requests are still queued, but new connections are refused.
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{base_url}/health/live", timeout=2)
            assert process.poll() is None
            responses = [answer.result() for answer in answers]
        assert [response.status_code for response in responses] == [200] * 10
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_served_process_logs_one_json_line_per_request(served: ServedProcess) -> None:
    base_url, log_lines = served.base_url, served.log_lines
    httpx.post(
        f"{base_url}/score", json={"inputs": ["private words [MASK]"]}, headers={"x-request-id": "r-77"}
    )
    deadline = time.monotonic() + 5
    while not any('"r-77"' in line for line in log_lines):
        assert time.monotonic() < deadline, log_lines[-5:]
        time.sleep(0.05)
    record = json.loads(next(line for line in log_lines if '"r-77"' in line))
    assert (record["route"], record["status"], record["inputs"]) == ("/score", 200, 1)
    assert not any("private words" in line for line in log_lines)
