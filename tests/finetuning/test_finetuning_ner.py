"""`python -m app finetune token-classification` from a CoNLL-2003 column file (IOB1, -DOCSTART-):
the tags are read as IOB2, the tiny BERT learns them, and DIR/model serves them by name."""

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

from app.config import Settings
from app.finetuning.data import load_task_data
from app.finetuning.options import FinetuneOptions
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.finetuning_runs import (
    conll_columns,
    finetune,
    last_trainer_state,
    logged_losses,
    ner_rows,
    read_jsonl,
    tagged_sentences,
    write_jsonl,
)

# O first, then the entity types in order of first appearance (PER opens the training file).
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, trainable_bert_dir: Path) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("ner-data")
    train = data / "eng.train"
    train.write_text(conll_columns(tagged_sentences(48, seed=1)))
    files = {
        "train": train,
        "validation": write_jsonl(data / "validation.jsonl", ner_rows(tagged_sentences(16, seed=2))),
        "test": write_jsonl(data / "test.jsonl", ner_rows(tagged_sentences(16, seed=3))),
    }
    output = tmp_path_factory.mktemp("ner-run") / "out"
    arguments = ["--epochs", "6", "--batch-size", "8", "--learning-rate", "1e-2"]
    assert finetune("token-classification", trainable_bert_dir, output, *arguments, **files) == 0
    return {"output": output, "files": files}


def test_training_loss_falls(run: dict[str, Any]) -> None:
    losses = logged_losses(run["output"])
    assert last_trainer_state(run["output"])["global_step"] == 36  # 48 sentences / batch 8 x 6 epochs
    assert len(losses) >= 4
    assert losses[-1] < 0.5 * losses[0]


def test_model_serves_the_tags_by_name(run: dict[str, Any]) -> None:
    config = json.loads((run["output"] / "model" / "config.json").read_text())
    assert list(config["id2label"].values()) == TAGS
    with TestClient(create_app(Settings(model_id=str(run["output"] / "model")))) as client:
        wait_until_ready(client)
        assert client.get("/health/ready").json()["labels"] == TAGS
        response = client.post("/score", json={"inputs": {"input_string": ["the king went to Paris ."]}})
    assert response.status_code == 200
    [answer] = response.json()
    tags = ast.literal_eval(answer["0"])
    assert len(tags) == 6
    assert set(tags) <= set(TAGS)


@pytest.mark.parametrize("split", ["validation", "test"])
def test_metrics_equal_seqeval_on_the_predictions(run: dict[str, Any], split: str) -> None:
    metrics = json.loads((run["output"] / "metrics.json").read_text())[split]
    predictions = read_jsonl(run["output"] / "predictions" / f"{split}.jsonl")
    gold = [record["gold"] for record in predictions]
    predicted = [record["predicted"] for record in predictions]
    assert gold == [row["ner_tags_str"] for row in read_jsonl(run["files"][split])]
    assert metrics["precision"] == pytest.approx(precision_score(gold, predicted))
    assert metrics["recall"] == pytest.approx(recall_score(gold, predicted))
    assert metrics["f1"] == pytest.approx(f1_score(gold, predicted))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    assert metrics["f1"] > 0.4  # entities are found


def test_outputs_name_the_run(run: dict[str, Any]) -> None:
    output: Path = run["output"]
    assert "labels (5): O, B-PER, I-PER, B-LOC, I-LOC" in (output / "report.md").read_text()
    assert (output / "learning_curves.png").is_file()
    assert not (output / "confusion_matrix.png").exists()  # classification only
    train = json.loads((output / "metrics.json").read_text())["train"]
    assert train["best_metric"] == "f1"
    assert json.loads((output / "finetune_config.json").read_text())["labels"] == TAGS


def test_conll_column_file_is_read_as_iob2(tmp_path: Path) -> None:
    """IOB1 opens an entity with I-; B- only separates two entities of one type."""
    train = tmp_path / "eng.train"
    train.write_text(
        "-DOCSTART- -X- -X- O\n\n"
        "the DT B-NP O\nking NN I-NP I-PER\nqueen NN I-NP B-PER\nin IN B-PP O\nParis NNP B-NP I-LOC\n\n"
        "-DOCSTART- -X- -X- O\n\n"
        "London NNP B-NP I-LOC\nEngland NNP I-NP I-LOC\nking NN I-NP I-PER\n"
    )
    data = load_task_data(FinetuneOptions(task="token-classification", train=train, output=tmp_path / "out"))
    sentences = data.splits["train"]
    assert [s.tokens for s in sentences] == [
        ["the", "king", "queen", "in", "Paris"],
        ["London", "England", "king"],
    ]
    assert [s.tags for s in sentences] == [["O", "B-PER", "B-PER", "O", "B-LOC"], ["B-LOC", "I-LOC", "B-PER"]]
    assert data.labels == TAGS


def test_dry_run_counts_the_iob2_tags_of_each_split(
    tmp_path: Path, trainable_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentences = tagged_sentences(6, seed=4)
    train = tmp_path / "eng.train"
    train.write_text(conll_columns(sentences))
    test = write_jsonl(tmp_path / "test.jsonl", ner_rows(sentences[:2]))
    output = tmp_path / "out"
    arguments = ["--dry-run"]
    assert (
        finetune("token-classification", trainable_bert_dir, output, *arguments, train=train, test=test) == 0
    )
    plan = json.loads(capsys.readouterr().out)
    tags = [tag for _, sentence_tags in sentences for tag in sentence_tags]
    assert plan["labels"]["train"] == {tag: tags.count(tag) for tag in TAGS}
    assert sum(plan["labels"]["test"].values()) == sum(len(tokens) for tokens, _ in sentences[:2])
    assert plan["splits"]["train"]["examples"] == 6
    assert plan["splits"]["test"]["examples"] == 2
    assert plan["configuration"]["task"] == "token-classification"
    assert not output.exists()
