"""`python -m app finetune ... --lora`: peft's LoRA on a tiny BERT learns the toy topic task; DIR holds
the adapter (naming its base, with the trained head: peft #310's trap), its size and trainable
parameters in metrics.json; `--merge` writes a plain checkpoint that serves the adapter's answers."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from safetensors import safe_open

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.finetuning_runs import finetune, logged_losses, read_jsonl, topic_rows, write_jsonl


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, trainable_bert_dir: Path) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("lora-data")
    files = {
        "train": write_jsonl(data / "train.jsonl", topic_rows(48, seed=1)),
        "test": write_jsonl(data / "test.jsonl", topic_rows(16, seed=3)),
    }
    output = tmp_path_factory.mktemp("lora-run") / "out"
    arguments = [
        "--epochs",
        "4",
        "--batch-size",
        "8",
        "--learning-rate",
        "2e-2",
        "--lora",
        "--lora-r",
        "4",
        "--merge",
    ]
    assert finetune("text-classification", trainable_bert_dir, output, *arguments, **files) == 0
    return {"output": output, "files": files, "base": trainable_bert_dir}


def test_the_adapter_names_its_base_and_holds_the_trained_head(run: dict[str, Any]) -> None:
    adapter = run["output"] / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(run["base"])
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (
        4,
        128,
        ["query", "value"],
    )
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert any("lora_A" in name for name in names) and any("classifier" in name for name in names)
    assert any("pooler" in name for name in names), "the pooler the masked LM lacked trains whole"
    lora = json.loads((run["output"] / "metrics.json").read_text())["train"]["lora"]
    assert 0 < lora["trainable_parameters"] < lora["total_parameters"]
    assert lora["adapter_bytes"] == (adapter / "adapter_model.safetensors").stat().st_size


def test_lora_learns_and_the_merged_model_serves_its_answers(run: dict[str, Any]) -> None:
    losses = logged_losses(run["output"])
    assert losses[-1] < 0.7 * losses[0]
    metrics = json.loads((run["output"] / "metrics.json").read_text())
    assert (
        metrics["test"]["accuracy"] >= 0.65
    )  # above chance (0.5): a frozen random tiny encoder learns little
    predictions = read_jsonl(run["output"] / "evaluation" / "test" / "predictions.jsonl")
    texts = [row["text"] for row in read_jsonl(run["files"]["test"])]
    with TestClient(create_app(Settings(model_id=str(run["output"] / "model")))) as client:
        wait_until_ready(client)
        answer = client.post("/", json={"inputs": texts, "parameters": {"top_k": 1}}).json()
    assert [row[0]["label"] for row in answer] == [row["predicted"] for row in predictions]
    assert [row[0]["score"] for row in answer] == pytest.approx(
        [row["scores"][row["predicted"]] for row in predictions], abs=1e-4
    )


@pytest.mark.parametrize(
    ("task", "head"), [("token-classification", "classifier"), ("question-answering", "qa_outputs")]
)
def test_every_task_saves_its_head_with_the_adapter_and_merges(
    tmp_path: Path, trainable_bert_dir: Path, task: str, head: str
) -> None:
    from tests.finetuning_runs import ner_rows, qa_rows, tagged_sentences

    rows = ner_rows(tagged_sentences(16, seed=1)) if task == "token-classification" else qa_rows(16, seed=1)
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    arguments = ["--epochs", "1", "--batch-size", "8", "--lora", "--merge"]
    assert finetune(task, trainable_bert_dir, tmp_path / "out", *arguments, train=train) == 0
    with safe_open(str(tmp_path / "out" / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert any(head in name for name in names)
    with TestClient(create_app(Settings(model_id=str(tmp_path / "out" / "model")))) as client:
        wait_until_ready(client)
        assert client.get("/health/ready").json()["tasks"] == [task]
