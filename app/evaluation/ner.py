"""NER evaluation: entity-level precision, recall and F1 as conlleval counts them, and word accuracy.

seqeval in its default (conlleval) mode: an entity is a maximal run of one type, so a prediction
that opens with I- still counts. Per type the same scores, and the support in gold entities.
Word accuracy is the share of words whose predicted tag equals the gold tag, O included.
"""

from pathlib import Path
from typing import Any

from app.datasets.conll import TaggedSentence
from app.engine.batching import BatchLimits
from app.errors import InvalidInputError
from app.evaluation.charts import bar_chart
from app.evaluation.prediction import predict_with_progress
from app.evaluation.results import skip_reason, skipped_line, write_results
from app.tasks.base import Task
from app.tasks.token_classification import TokenClassificationOptions, Words, WordTag


def evaluate_ner(
    task: Task[Any], sentences: list[TaggedSentence], output_dir: Path, limits: BatchLimits
) -> dict[str, Any]:
    words = [Words.from_tokens(sentence.tokens) for sentence in sentences]
    answers = predict_with_progress(task, words, TokenClassificationOptions(), limits)
    gold: list[list[str]] = []
    predicted: list[list[str]] = []
    records = []
    skipped: dict[str, int] = {}
    for sentence, answer in zip(sentences, answers, strict=True):
        if isinstance(answer, InvalidInputError):
            reason = skip_reason(answer)
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        tags = [word_tag.entity for word_tag in answer]
        gold.append(sentence.tags)
        predicted.append(tags)
        records.append(_prediction_record(sentence, answer))
    metrics = ner_metrics(gold, predicted)
    metrics["examples_skipped"] = skipped
    write_results(output_dir, metrics, records, _report(metrics))
    by_type = {name: scores["f1"] for name, scores in metrics["per_type"].items()}
    bar_chart(
        {"overall": metrics["f1"], **by_type}, "NER: entity F1 by type", "F1", output_dir / "f1_by_type.png"
    )
    return metrics


def ner_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    if not gold:
        return {"examples": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0, "per_type": {}}
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    return {
        "examples": len(gold),
        "words": sum(len(tags) for tags in gold),
        "precision": float(precision_score(gold, predicted, zero_division=0)),
        "recall": float(recall_score(gold, predicted, zero_division=0)),
        "f1": float(f1_score(gold, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(gold, predicted)),
        "per_type": {
            name: {
                "precision": float(scores["precision"]),
                "recall": float(scores["recall"]),
                "f1": float(scores["f1-score"]),
                "support": int(scores["support"]),
            }
            for name, scores in report.items()
            if not name.endswith(" avg")
        },
    }


def _prediction_record(sentence: TaggedSentence, answer: list[WordTag]) -> dict[str, Any]:
    return {
        "row": sentence.row,
        "tokens": sentence.tokens,
        "gold": sentence.tags,
        "predicted": [word_tag.entity for word_tag in answer],
        "scores": [round(word_tag.score, 6) for word_tag in answer],
    }


def _report(metrics: dict[str, Any]) -> list[str]:
    lines = [
        "# NER evaluation",
        "",
        f"- sentences scored: {metrics['examples']}; words: {metrics.get('words', 0)}",
        f"- entities (conlleval): precision {metrics['precision']:.4f}, recall {metrics['recall']:.4f}, "
        f"F1 {metrics['f1']:.4f}",
        f"- word accuracy: {metrics['accuracy']:.4f}",
        *skipped_line(metrics["examples_skipped"]),
        "",
        "| type | precision | recall | F1 | gold entities |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |"
        for name, m in metrics["per_type"].items()
    ]
    return lines
