"""The shared datasets as they are, cut short: each reads, runs and gives metrics in range."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from tests.conftest import SHARED

DATASETS = SHARED / "data" / "datasets"


def shared_file(relative: str) -> Path:
    path = DATASETS / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    return path


def head_lines(source: Path, target: Path, count: int) -> Path:
    with source.open(encoding="utf-8") as stream:
        target.write_text("".join(line for _, line in zip(range(count), stream, strict=False)))
    return target


def evaluate(
    tmp_path: Path, data: Path, model: Path, *extra: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path / "out"
    assert main(["evaluate", str(data), "--model", str(model), "--output", str(out), *extra]) == 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return json.loads((out / "metrics.json").read_text()), predictions


def test_emotion_test_rows_give_classification_metrics(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    data = head_lines(shared_file("emotion/test.jsonl"), tmp_path / "emotion.jsonl", 50)
    metrics, _ = evaluate(tmp_path, data, tiny_task_dir("text-classification"))
    assert metrics["examples"] == 50
    assert all(0 <= metrics[key] <= 1 for key in ("accuracy", "macro_f1", "weighted_f1"))
    assert sum(scores["support"] for scores in metrics["per_class"].values()) == 50


def test_conll2003_test_sentences_give_ner_metrics(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    data = head_lines(shared_file("conll2003/test.jsonl"), tmp_path / "conll.jsonl", 30)
    metrics, predictions = evaluate(tmp_path, data, tiny_task_dir("token-classification"))
    assert metrics["examples"] == 30
    assert all(0 <= metrics[key] <= 1 for key in ("precision", "recall", "f1", "accuracy"))
    assert set(metrics["per_type"]) <= {"PER", "ORG", "LOC", "MISC"} and metrics["per_type"]
    assert predictions[0]["gold"][:3] == ["O", "O", "B-LOC"]  # SOCCER - JAPAN ...


def test_original_eng_testa_is_read_as_iob2(tmp_path: Path, tiny_task_dir: Callable[[str], Path]) -> None:
    source = shared_file("conll2003/original_iob1/eng.testa")
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    blank_lines = [i for i, line in enumerate(lines) if not line.strip()]
    data = tmp_path / "eng.testa"
    data.write_text("".join(lines[: blank_lines[40]]))
    metrics, predictions = evaluate(tmp_path, data, tiny_task_dir("token-classification"))
    assert 30 <= metrics["examples"] <= 40  # 40 blocks, less the -DOCSTART- ones
    assert all(0 <= metrics[key] <= 1 for key in ("precision", "recall", "f1", "accuracy"))
    golds = [p["gold"] for p in predictions]
    assert golds[0][2] == "B-ORG"  # LEICESTERSHIRE, I-ORG in the file: IOB1 opens an entity with I-
    for tags in golds:  # IOB2: an I- tag always continues an entity of its own type
        for previous, tag in zip(["O", *tags], tags, strict=False):
            assert not tag.startswith("I-") or previous[2:] == tag[2:], tags
    assert predictions[0]["tokens"][:3] == ["CRICKET", "-", "LEICESTERSHIRE"]


@pytest.mark.parametrize("source", ["squad/azureml_small_test.jsonl", "squad/derived_dev-v1.1_subset.json"])
def test_squad_questions_give_exact_match_and_f1(
    source: str, tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    path = shared_file(source)
    if path.suffix == ".jsonl":
        data = head_lines(path, tmp_path / "squad.jsonl", 20)
    else:
        document = json.loads(path.read_text(encoding="utf-8"))
        document["data"] = document["data"][:2]
        data = tmp_path / "dev.json"
        data.write_text(json.dumps(document))
    metrics, predictions = evaluate(tmp_path, data, tiny_task_dir("question-answering"))
    assert metrics["examples"] == len(predictions) > 0
    assert 0 <= metrics["exact_match"] <= metrics["f1"] <= 100
    assert all(p["gold_answers"] for p in predictions)
