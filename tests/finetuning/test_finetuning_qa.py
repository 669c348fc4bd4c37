"""`python -m app finetune question-answering`: run_qa's training windows, a tiny BERT that learns to
point at the place in a context, and DIR/model answering spans of the context."""

import json
import random
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from transformers import AutoTokenizer

from app.config import Settings
from app.datasets.squad import Answer, QAExample
from app.evaluation.squad_metrics import best_exact_match, best_f1
from app.finetuning.features import qa_features
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.finetuning_runs import (
    QA_FILLER,
    QA_QUESTION,
    finetune,
    last_trainer_state,
    logged_losses,
    qa_rows,
    read_jsonl,
    write_jsonl,
)

WINDOW = ["--max-seq-length", "64", "--doc-stride", "16"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, trainable_bert_dir: Path) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("qa-data")
    files = {
        "train": write_jsonl(data / "train.jsonl", qa_rows(48, seed=1)),
        "validation": write_jsonl(data / "validation.jsonl", qa_rows(16, seed=2)),
        "test": write_jsonl(data / "test.jsonl", qa_rows(16, seed=3)),
    }
    output = tmp_path_factory.mktemp("qa-run") / "out"
    arguments = ["--epochs", "6", "--batch-size", "8", "--learning-rate", "5e-3", *WINDOW]
    assert finetune("question-answering", trainable_bert_dir, output, *arguments, **files) == 0
    return {"output": output, "files": files}


def test_training_loss_falls(run: dict[str, Any]) -> None:
    losses = logged_losses(run["output"])
    assert last_trainer_state(run["output"])["global_step"] == 36  # one window per question
    assert len(losses) >= 4
    assert losses[-1] < 0.5 * losses[0]


def test_model_answers_with_a_span_of_the_context(run: dict[str, Any]) -> None:
    context = "the dog saw a cat and the king is in Berlin on a morning ."
    body = {
        "input_data": {"columns": ["question", "context"], "index": [0], "data": [[QA_QUESTION, context]]}
    }
    with TestClient(create_app(Settings(model_id=str(run["output"] / "model")))) as client:
        wait_until_ready(client)
        assert client.get("/health/ready").json()["tasks"] == ["question-answering"]
        response = client.post("/score", json=body)
    assert response.status_code == 200
    assert response.json() == [{"0": "Berlin"}]


@pytest.mark.parametrize("split", ["validation", "test"])
def test_metrics_equal_squad_scores_of_the_predictions(run: dict[str, Any], split: str) -> None:
    metrics = json.loads((run["output"] / "metrics.json").read_text())[split]
    predictions = read_jsonl(run["output"] / "predictions" / f"{split}.jsonl")
    rows = read_jsonl(run["files"][split])
    assert [record["gold_answers"] for record in predictions] == [row["answers"]["text"] for row in rows]
    exact = [best_exact_match(record["prediction"], record["gold_answers"]) for record in predictions]
    f1 = [best_f1(record["prediction"], record["gold_answers"]) for record in predictions]
    assert metrics["exact_match"] == pytest.approx(100 * sum(exact) / len(rows))
    assert metrics["f1"] == pytest.approx(100 * sum(f1) / len(rows))
    assert metrics["exact_match"] > 50  # the place is found


def test_outputs_name_the_run(run: dict[str, Any]) -> None:
    output: Path = run["output"]
    report = (output / "report.md").read_text()
    assert "# Fine-tuning: question-answering" in report
    assert "max length 64" in report
    assert (output / "learning_curves.png").is_file()
    config = json.loads((output / "finetune_config.json").read_text())
    assert config["arguments"]["doc_stride"] == 16
    assert config["labels"] is None


def test_training_windows_point_at_the_answer_or_at_cls(trainable_bert_dir: Path) -> None:
    """Each window's start and end tokens cover exactly the answer's characters; a window that does
    not hold the whole answer points at [CLS]."""
    tokenizer = AutoTokenizer.from_pretrained(trainable_bert_dir)
    rng = random.Random(5)
    filler = " ".join(rng.choices(QA_FILLER, k=60))
    examples = [
        answered("q-middle", filler + " Paris " + filler, "Paris"),
        answered("q-start", "London England " + filler, "London England"),
        answered("q-subwords", filler + " two cats .", "cats"),  # cat ##s
        answered("q-short", "the king is in Berlin .", "Berlin"),
        QAExample("q-no-start", QA_QUESTION, filler, [Answer("dog")]),
    ]
    features = qa_features(examples, tokenizer, max_length=64, doc_stride=16)
    windows = tokenizer(
        [e.question for e in examples],
        [e.context for e in examples],
        truncation="only_second",
        max_length=64,
        stride=16,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    assert features["input_ids"] == windows["input_ids"]
    holding: dict[str, int] = {e.id: 0 for e in examples}
    missing: dict[str, int] = {e.id: 0 for e in examples}
    for window, offsets in enumerate(windows["offset_mapping"]):
        example = examples[windows["overflow_to_sample_mapping"][window]]
        start, end = features["start_positions"][window], features["end_positions"][window]
        in_context = [i for i, sequence in enumerate(windows.sequence_ids(window)) if sequence == 1]
        answer = example.answers[0]
        if answer.start is not None and (
            offsets[in_context[0]][0] <= answer.start
            and answer.start + len(answer.text) <= offsets[in_context[-1]][1]
        ):
            holding[example.id] += 1
            assert start in in_context and end in in_context
            assert example.context[offsets[start][0] : offsets[end][1]] == answer.text
        else:
            missing[example.id] += 1
            assert start == end == 0
            assert windows["input_ids"][window][0] == tokenizer.cls_token_id
    assert holding["q-middle"] >= 1 and missing["q-middle"] >= 1  # longer than one window
    assert holding["q-start"] >= 1 and missing["q-start"] >= 1
    assert holding["q-subwords"] >= 1 and missing["q-subwords"] >= 1
    assert holding["q-short"] == 1 and missing["q-short"] == 0
    assert holding["q-no-start"] == 0 and missing["q-no-start"] > 1


def answered(identifier: str, context: str, answer: str) -> QAExample:
    start = context.rindex(answer) if identifier == "q-subwords" else context.index(answer)
    return QAExample(identifier, QA_QUESTION, context, [Answer(answer, start)])
