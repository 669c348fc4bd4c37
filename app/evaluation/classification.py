"""Classification evaluation (of texts, or of sentence pairs for next-sentence prediction).

Accuracy, macro and weighted F1 and per-class precision, recall and F1, as scikit-learn computes
them over the labels that occur in the gold or the predictions (a label never seen in either has
no F1 to average); a class with nothing predicted counts 0, not a warning. The confusion matrix
spans every label of the model.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.datasets.text_classification import LabelledText
from app.engine.batching import BatchLimits
from app.errors import InvalidInputError
from app.evaluation.charts import confusion_matrix_chart
from app.evaluation.prediction import predict_with_progress
from app.evaluation.results import skip_reason, skipped_line, write_results
from app.tasks.base import Scored, Task


def evaluate_classification(
    task: Task[Any],
    examples: list[LabelledText],
    labels: list[str],
    options: Any,
    output_dir: Path,
    limits: BatchLimits,
    title: str = "Text classification",
) -> dict[str, Any]:
    """`options` asks for every label's score (top_k = len(labels)), so predictions.jsonl shows them."""
    answers = predict_with_progress(task, [(e.text, e.text_pair) for e in examples], options, limits)
    gold: list[str] = []
    predicted: list[str] = []
    records = []
    skipped: dict[str, int] = {}
    for example, answer in zip(examples, answers, strict=True):
        if isinstance(answer, InvalidInputError):
            reason = skip_reason(answer)
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        gold.append(example.label)
        predicted.append(answer[0].label)
        records.append(_prediction_record(example, answer))
    metrics = classification_metrics(gold, predicted, labels)
    metrics["examples_skipped"] = skipped
    write_results(output_dir, metrics, records, _report(title, metrics))
    confusion_matrix_chart(
        metrics["confusion_matrix"]["counts"],
        labels,
        f"{title}: confusion matrix",
        output_dir / "confusion_matrix.png",
    )
    return metrics


def classification_metrics(
    gold: Sequence[str], predicted: Sequence[str], labels: list[str]
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    if not gold:
        return {
            "examples": 0,
            "accuracy": 0.0,
            "macro_f1": 0.0,
            "weighted_f1": 0.0,
            "per_class": {},
            "confusion_matrix": {"labels": labels, "counts": [[0] * len(labels) for _ in labels]},
        }
    seen = set(gold) | set(predicted)
    present = [label for label in labels if label in seen]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=present, zero_division=0
    )
    return {
        "examples": len(gold),
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(gold, predicted, average="weighted", zero_division=0)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(present)
        },
        "confusion_matrix": {
            "labels": labels,
            "counts": confusion_matrix(gold, predicted, labels=labels).tolist(),
        },
    }


def _prediction_record(example: LabelledText, answer: list[Scored]) -> dict[str, Any]:
    record: dict[str, Any] = {"row": example.row, "text": example.text}
    if example.text_pair is not None:
        record["text_pair"] = example.text_pair
    record |= {
        "gold": example.label,
        "predicted": answer[0].label,
        "correct": answer[0].label == example.label,
        "scores": {scored.label: scored.score for scored in answer},
    }
    return record


def _report(title: str, metrics: dict[str, Any]) -> list[str]:
    lines = [
        f"# {title} evaluation",
        "",
        f"- examples scored: {metrics['examples']}",
        f"- accuracy: {metrics['accuracy']:.4f}; macro F1: {metrics['macro_f1']:.4f}; "
        f"weighted F1: {metrics['weighted_f1']:.4f}",
        *skipped_line(metrics["examples_skipped"]),
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |"
        for label, m in metrics["per_class"].items()
    ]
    lines += ["", "Confusion matrix (rows gold, columns predicted): `confusion_matrix.png`."]
    return lines
