"""The checkpoint decides the task; a head missing from the weights is a load error, never a guess."""

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.errors import ModelLoadError
from app.serving.app import create_app
from app.tasks.checkpoint import load_served_model


@pytest.mark.parametrize(
    ("task", "served"),
    [
        ("fill-mask", ["fill-mask"]),
        ("pretraining", ["fill-mask", "next-sentence-prediction"]),
        ("text-classification", ["text-classification"]),
        ("token-classification", ["token-classification"]),
        ("question-answering", ["question-answering"]),
        ("next-sentence-prediction", ["next-sentence-prediction"]),
    ],
)
def test_the_architecture_picks_the_tasks(
    tiny_task_dir: Callable[[str], Path], task: str, served: list[str]
) -> None:
    assert list(load_served_model(str(tiny_task_dir(task)), device="cpu").tasks) == served


@pytest.mark.parametrize(
    ("checkpoint", "task", "missing"),
    [
        ("fill-mask", "text-classification", "classifier"),
        ("fill-mask", "question-answering", "qa_outputs"),
        ("next-sentence-prediction", "fill-mask", "cls.predictions"),
        ("fill-mask", "next-sentence-prediction", "seq_relationship"),
    ],
)
def test_a_head_missing_from_the_weights_is_a_load_error(
    tiny_task_dir: Callable[[str], Path], checkpoint: str, task: str, missing: str
) -> None:
    with pytest.raises(ModelLoadError, match=f"no trained weights for the {task} head") as caught:
        load_served_model(str(tiny_task_dir(checkpoint)), device="cpu", task=task)  # type: ignore[arg-type]
    assert missing in caught.value.message


@pytest.mark.parametrize(
    ("checkpoint", "task"),
    [
        ("text-classification", "token-classification"),
        ("text-classification", "fill-mask"),
        ("token-classification", "text-classification"),
        ("question-answering", "next-sentence-prediction"),
    ],
)
def test_a_fine_tuned_head_serves_only_its_own_task(
    tiny_task_dir: Callable[[str], Path], checkpoint: str, task: str
) -> None:
    with pytest.raises(ModelLoadError, match=f"trained for {checkpoint}.*cannot serve {task}"):
        load_served_model(str(tiny_task_dir(checkpoint)), device="cpu", task=task)  # type: ignore[arg-type]


def test_task_override_serves_a_head_the_weights_hold(tiny_task_dir: Callable[[str], Path]) -> None:
    served = load_served_model(
        str(tiny_task_dir("pretraining")), device="cpu", task="next-sentence-prediction"
    )
    assert list(served.tasks) == ["next-sentence-prediction"]


def test_a_bare_encoder_serves_feature_extraction(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = tiny_task_dir("fill-mask")
    config = BertConfig.from_pretrained(source)
    config.architectures = ["BertModel"]
    BertModel(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(source).save_pretrained(tmp_path)
    assert list(load_served_model(str(tmp_path), device="cpu").tasks) == ["feature-extraction"]


def test_an_architecture_without_a_task_is_refused_with_what_to_do(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    source = tiny_task_dir("fill-mask")
    for name in os.listdir(source):
        shutil.copy(source / name, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"architectures": ["BertForCausalLM"]}))
    with pytest.raises(ModelLoadError, match="has no task head") as caught:
        load_served_model(str(tmp_path), device="cpu")
    assert "--task" in caught.value.message


def test_a_server_whose_head_is_missing_is_never_ready_and_stops(
    tiny_task_dir: Callable[[str], Path],
) -> None:
    stopped = threading.Event()
    settings = Settings(model_id=str(tiny_task_dir("fill-mask")), task="text-classification")
    with TestClient(create_app(settings, on_fatal=stopped.set)) as client:
        assert stopped.wait(30)
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "random weights" in ready.json()["message"]
        assert client.post("/score", json={"input_data": {"input_string": ["a"]}}).status_code == 503
