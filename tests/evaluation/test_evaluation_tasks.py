"""`python -m app evaluate` per task on tiny checkpoints: predictions equal the model computed
directly here, and metrics equal scikit-learn's and seqeval's on those predictions (QA: its own file)."""

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertForPreTraining,
    BertForTokenClassification,
)

from app.cli import main
from tests.tiny_bert import EMOTION_LABELS, WORDS

PNG = b"\x89PNG\r\n\x1a\n"


def evaluate(tmp_path: Path, *args: str) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    out = tmp_path / "out"
    assert main(["evaluate", *args, "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert (out / "report.md").read_text().startswith("# ")
    return metrics, predictions, out


def sentence(seed: int, length: int = 6) -> str:
    return " ".join(WORDS[(seed * 7 + i * 13) % len(WORDS)] for i in range(length))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_classification_predictions_match_the_pipeline_and_metrics_match_sklearn(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
    from transformers import pipeline

    model_dir = tiny_task_dir("text-classification")
    rows = [
        {"text": sentence(i), "label": i % 6 if i % 2 else EMOTION_LABELS[(i * 5) % 6]} for i in range(24)
    ]
    data = write_jsonl(tmp_path / "emotion.jsonl", rows)
    metrics, predictions, out = evaluate(tmp_path, str(data), "--model", str(model_dir))

    classifier = pipeline("text-classification", model=str(model_dir), device="cpu", top_k=None)
    expected = [scores[0] for scores in classifier([row["text"] for row in rows])]
    assert [p["predicted"] for p in predictions] == [e["label"] for e in expected]
    assert [p["scores"][p["predicted"]] for p in predictions] == pytest.approx(
        [e["score"] for e in expected], abs=1e-4
    )
    gold = [row["label"] if isinstance(row["label"], str) else EMOTION_LABELS[row["label"]] for row in rows]
    assert [p["gold"] for p in predictions] == gold

    predicted = [e["label"] for e in expected]
    assert len(set(predicted)) > 1, "a tiny model that always answers one label tests little"
    assert metrics["examples"] == 24
    assert metrics["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro", zero_division=0))
    assert metrics["weighted_f1"] == pytest.approx(
        f1_score(gold, predicted, average="weighted", zero_division=0)
    )
    present = sorted(set(gold) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=present, zero_division=0
    )
    assert sorted(metrics["per_class"]) == present
    for i, label in enumerate(present):
        assert metrics["per_class"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}
        )
    assert (out / "confusion_matrix.png").read_bytes()[:8] == PNG
    counts = metrics["confusion_matrix"]["counts"]
    assert sum(map(sum, counts)) == 24 and sum(counts[i][i] for i in range(6)) == sum(
        g == p for g, p in zip(gold, predicted, strict=True)
    )


def test_classification_reads_csv_text_pairs_with_named_columns(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    from transformers import pipeline

    model_dir = tiny_task_dir("text-classification")
    data = tmp_path / "pairs.csv"
    pairs = [(sentence(i, 4), sentence(i + 50, 5), EMOTION_LABELS[i % 6]) for i in range(8)]
    data.write_text("first,second,feeling\n" + "".join(f"{a},{b},{label}\n" for a, b, label in pairs))
    metrics, predictions, _ = evaluate(
        tmp_path,
        str(data),
        "--model",
        str(model_dir),
        "--text-column",
        "first",
        "--text-pair-column",
        "second",
        "--label-column",
        "feeling",
    )
    classifier = pipeline("text-classification", model=str(model_dir), device="cpu")
    answers = [classifier({"text": a, "text_pair": b}) for a, b, _ in pairs]
    expected = [(answer[0] if isinstance(answer, list) else answer)["label"] for answer in answers]
    assert [p["predicted"] for p in predictions] == expected
    assert [p["text_pair"] for p in predictions] == [b for _, b, _ in pairs]
    assert (
        metrics["accuracy"] == sum(e == label for e, (_, _, label) in zip(expected, pairs, strict=True)) / 8
    )


def test_ner_predictions_are_the_first_subtoken_argmax_and_metrics_match_seqeval(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    model_dir = tiny_task_dir("token-classification")
    tag_cycle = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "O", "B-MISC"]
    rows = []
    for i in range(12):
        tokens = [*sentence(i, 5 + i % 4).split(), "walking"]  # one word of two sub-tokens
        rows.append({"tokens": tokens, "ner_tags_str": [tag_cycle[(i + j) % 9] for j in range(len(tokens))]})
    for row in rows:  # IOB2 gold: an I- never follows O or another type
        row["ner_tags_str"] = [
            "B-" + tag[2:] if tag.startswith("I-") and prev[2:] != tag[2:] else tag
            for prev, tag in zip(["O", *row["ner_tags_str"]], row["ner_tags_str"], strict=False)
        ]
    data = write_jsonl(tmp_path / "conll.jsonl", [*rows, {"tokens": [], "ner_tags_str": []}])
    metrics, predictions, out = evaluate(tmp_path, str(data), "--model", str(model_dir))
    assert metrics["examples"] == 12 and metrics["examples_skipped"] == {"has no words to tag.": 1}

    model = BertForTokenClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    expected = []
    for row in rows:
        encoding = tokenizer(row["tokens"], is_split_into_words=True, return_tensors="pt")
        with torch.inference_mode():
            best = model(**encoding).logits[0].argmax(-1).tolist()
        word_ids = encoding.word_ids()
        firsts = [word_ids.index(w) for w in range(len(row["tokens"]))]
        expected.append([model.config.id2label[best[position]] for position in firsts])
    predicted = [p["predicted"] for p in predictions]
    assert predicted == expected
    gold = [row["ner_tags_str"] for row in rows]
    assert metrics["precision"] == pytest.approx(precision_score(gold, predicted, zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(gold, predicted, zero_division=0))
    assert metrics["f1"] == pytest.approx(f1_score(gold, predicted, zero_division=0))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    assert 0 < metrics["accuracy"] < 1
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    assert sorted(metrics["per_type"]) == ["LOC", "MISC", "ORG", "PER"]
    for name, scores in metrics["per_type"].items():
        assert scores["f1"] == pytest.approx(report[name]["f1-score"])
        assert scores["support"] == report[name]["support"]
    assert (out / "f1_by_type.png").read_bytes()[:8] == PNG


def test_nsp_from_text_on_a_pretraining_checkpoint_counts_correct_pairs(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    model_dir = tiny_task_dir("pretraining")
    text = tmp_path / "text.txt"
    lines = [sentence(i, 5) + " ." for i in range(17)]
    text.write_text("\n".join(lines) + "\n")
    metrics, predictions, out = evaluate(tmp_path, "--nsp-from-text", str(text), "--model", str(model_dir))

    assert len(predictions) == 16 and sum(p["gold"] == "IsNext" for p in predictions) == 8
    following = dict(itertools.pairwise(lines))
    assert all((p["text_pair"] == following[p["text"]]) == (p["gold"] == "IsNext") for p in predictions)
    model = BertForPreTraining.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for p in predictions:
        with torch.inference_mode():
            logits = model(
                **tokenizer(p["text"], p["text_pair"], return_tensors="pt")
            ).seq_relationship_logits
        assert p["predicted"] == ["IsNext", "NotNext"][int(logits[0].argmax())]
    assert metrics["accuracy"] == sum(p["predicted"] == p["gold"] for p in predictions) / 16
    assert (out / "confusion_matrix.png").read_bytes()[:8] == PNG
    again, _, _ = evaluate(tmp_path / "again", "--nsp-from-text", str(text), "--model", str(model_dir))
    assert again["accuracy"] == metrics["accuracy"]


def test_nsp_task_reads_labelled_pairs(tmp_path: Path, tiny_task_dir: Callable[[str], Path]) -> None:
    rows = [
        {"text": sentence(i), "text_pair": sentence(i + 1), "label": ["IsNext", 1][i % 2]} for i in range(6)
    ]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    model_dir = tiny_task_dir("next-sentence-prediction")
    metrics, predictions, _ = evaluate(tmp_path, str(data), "--model", str(model_dir))
    assert [p["gold"] for p in predictions] == ["IsNext", "NotNext"] * 3
    assert metrics["accuracy"] == sum(p["correct"] for p in predictions) / 6


def test_unknown_label_exits_2_with_one_line_naming_file_row_and_field(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(
        tmp_path / "emotion.jsonl", [{"text": "the dog", "label": 0}, {"text": "a cat", "label": "boredom"}]
    )
    model_dir = tiny_task_dir("text-classification")
    assert main(["evaluate", str(data), "--model", str(model_dir), "--output", str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    error = errors[0]
    assert "emotion.jsonl row 2, field 'label'" in error and "'boredom'" in error
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give DATA"),
        (["missing.jsonl"], "missing.jsonl is not a file"),
        (
            ["--nsp-from-text", "t.txt", "--task", "fill-mask"],
            "--nsp-from-text evaluates next-sentence-prediction",
        ),
    ],
)
def test_evaluate_without_usable_data_exits_2_before_loading(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.txt").write_text("a\nb\n")
    paths = [str(tmp_path / a) if a.endswith((".jsonl", ".txt")) else a for a in arguments]
    assert main(["evaluate", *paths, "--model", str(tmp_path / "no-model")]) == 2
    assert message in capsys.readouterr().err


def test_task_flag_picks_nsp_of_a_pretraining_checkpoint_that_would_fill_masks(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    rows = [{"text": sentence(i), "text_pair": sentence(i + 1), "label": i % 2} for i in range(4)]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    metrics, _, _ = evaluate(
        tmp_path,
        str(data),
        "--model",
        str(tiny_task_dir("pretraining")),
        "--task",
        "next-sentence-prediction",
    )
    assert metrics["examples"] == 4 and 0 <= metrics["accuracy"] <= 1
