"""`python -m app finetune text-classification`: a tiny BERT learns a toy topic task, and DIR holds a
servable model, metrics equal to its predictions, a report, charts and the run's configuration."""

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import accuracy_score, f1_score
from sklearn.utils.class_weight import compute_class_weight

from app.cli import main
from app.config import Settings
from app.finetuning.data import load_task_data
from app.finetuning.options import FinetuneOptions
from app.finetuning.training import balanced_weights
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.finetuning_runs import (
    finetune,
    last_trainer_state,
    logged_losses,
    read_jsonl,
    topic_rows,
    write_jsonl,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = ["zebra", "apple"]  # first appearance in the training file, not alphabetical


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, trainable_bert_dir: Path) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("classification-data")
    files = {
        "train": write_jsonl(data / "train.jsonl", topic_rows(48, seed=1)),
        "validation": write_jsonl(data / "validation.jsonl", topic_rows(16, seed=2)),
        "test": write_jsonl(data / "test.jsonl", topic_rows(16, seed=3)),
    }
    output = tmp_path_factory.mktemp("classification-run") / "out"
    arguments = ["--epochs", "3", "--batch-size", "8", "--learning-rate", "1e-2"]
    assert finetune("text-classification", trainable_bert_dir, output, *arguments, **files) == 0
    return {"output": output, "files": files}


def test_training_loss_falls(run: dict[str, Any]) -> None:
    losses = logged_losses(run["output"])
    assert last_trainer_state(run["output"])["global_step"] == 18  # 48 rows / batch 8 x 3 epochs
    assert len(losses) >= 4
    assert losses[-1] < 0.5 * losses[0]


def test_model_serves_the_training_files_label_names(run: dict[str, Any]) -> None:
    config = json.loads((run["output"] / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "zebra", "1": "apple"}
    with TestClient(create_app(Settings(model_id=str(run["output"] / "model")))) as client:
        wait_until_ready(client)
        assert client.get("/health/ready").json()["labels"] == LABELS
        response = client.post(
            "/score", json={"input_data": {"input_string": ["dog cat and the river", "Paris is a city"]}}
        )
    assert response.status_code == 200
    assert response.json() == [{"0": "zebra"}, {"0": "apple"}]


@pytest.mark.parametrize("split", ["validation", "test"])
def test_metrics_equal_a_computation_from_the_predictions(run: dict[str, Any], split: str) -> None:
    metrics = json.loads((run["output"] / "metrics.json").read_text())
    predictions = read_jsonl(run["output"] / "predictions" / f"{split}.jsonl")
    gold = [record["gold"] for record in predictions]
    predicted = [record["predicted"] for record in predictions]
    assert gold == [row["label"] for row in read_jsonl(run["files"][split])]
    assert metrics[split]["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    assert metrics[split]["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"))
    assert metrics[split]["weighted_f1"] == pytest.approx(f1_score(gold, predicted, average="weighted"))
    assert metrics[split]["accuracy"] == 1.0  # the toy task is learnt


def test_metrics_hold_the_training_summary(run: dict[str, Any]) -> None:
    train = json.loads((run["output"] / "metrics.json").read_text())["train"]
    assert train["loss"] > 0
    assert train["examples_per_s"] > 0
    assert train["wall_time_s"] > 0
    assert train["best_epoch"] in (1.0, 2.0, 3.0)
    assert train["best_metric"] == "macro_f1"


def test_report_and_charts_are_written(run: dict[str, Any]) -> None:
    output: Path = run["output"]
    report = (output / "report.md").read_text()
    assert "# Fine-tuning: text-classification" in report
    assert "labels (2): zebra, apple" in report
    assert "| test | 1 | 1 | 1 |" in report
    for chart in ("learning_curves.png", "confusion_matrix.png"):
        assert (output / chart).read_bytes().startswith(PNG_SIGNATURE)


def test_config_records_arguments_versions_checksums_and_seed(run: dict[str, Any]) -> None:
    config = json.loads((run["output"] / "finetune_config.json").read_text())
    arguments = config["arguments"]
    assert arguments["task"] == "text-classification"
    assert arguments["learning_rate"] == 1e-2
    assert arguments["batch_size"] == 8
    assert arguments["max_seq_length"] == 128  # resolved from the task's default
    assert arguments["seed"] == 0
    assert arguments["train"] == str(run["files"]["train"])
    assert config["labels"] == LABELS
    assert config["data_sha256"] == {
        split: hashlib.sha256(path.read_bytes()).hexdigest() for split, path in run["files"].items()
    }
    assert {"python", "torch", "transformers", "datasets"} <= config["versions"].keys()
    assert all(config["versions"][name] for name in ("torch", "transformers"))


def test_dry_run_prints_the_plan_and_writes_nothing(
    tmp_path: Path, trainable_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Integer labels with --label-names are counted under those names."""
    rows = [{"text": row["text"], "label": LABELS.index(row["label"])} for row in topic_rows(12, seed=4)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    validation = write_jsonl(tmp_path / "validation.jsonl", rows[:5])
    output = tmp_path / "out"
    status = main(
        [
            "finetune",
            "text-classification",
            "--model",
            str(trainable_bert_dir),
            "--train",
            str(train),
            "--validation",
            str(validation),
            "--output",
            str(output),
            "--label-names",
            "zebra,apple",
            "--max-seq-length",
            "8",
            "--dry-run",
        ]
    )
    assert status == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["configuration"]["max_seq_length"] == 8
    assert plan["configuration"]["learning_rate"] == 2e-5
    assert plan["configuration"]["label_names"] == LABELS
    zebras = sum(row["label"] == 0 for row in rows)
    assert plan["labels"]["train"] == {"zebra": zebras, "apple": 12 - zebras}
    assert sum(plan["labels"]["validation"].values()) == 5
    assert plan["splits"]["train"]["examples"] == 12
    assert plan["splits"]["validation"]["examples"] == 5
    tokens = plan["splits"]["train"]["tokens"]
    assert tokens["min"] == tokens["max"] == 8  # [CLS], six words, [SEP]
    assert tokens["over_8"] == 0
    assert not output.exists()


def test_balanced_class_weights_train_an_unbalanced_set(tmp_path: Path, trainable_bert_dir: Path) -> None:
    zebras = [row for row in topic_rows(30, seed=5) if row["label"] == "zebra"][:9]
    train = write_jsonl(tmp_path / "train.jsonl", [*zebras, {"text": "Paris is a city", "label": "apple"}])
    data = load_task_data(FinetuneOptions(task="text-classification", train=train, output=tmp_path / "out"))
    gold = [example.label for example in data.splits["train"]]
    expected = compute_class_weight("balanced", classes=np.array(LABELS), y=gold)
    assert balanced_weights(data).tolist() == pytest.approx(expected.tolist())  # [10/18, 10/2]

    arguments = ["--class-weights", "balanced", "--max-steps", "2", "--batch-size", "4"]
    assert finetune("text-classification", trainable_bert_dir, tmp_path / "out", *arguments, train=train) == 0
    assert last_trainer_state(tmp_path / "out")["global_step"] == 2
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()
