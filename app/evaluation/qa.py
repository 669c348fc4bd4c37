"""Extractive QA evaluation: SQuAD v1.1 exact match and F1 (0-100) of the best span per question.

Questions without a gold answer (SQuAD 2.0's unanswerable ones) have no v1.1 score and are left
out and counted. A question the model cannot read (too long) scores 0, as a missing prediction
does in the official script.
"""

from pathlib import Path
from typing import Any

from app.datasets.squad import QAExample
from app.engine.batching import BatchLimits
from app.errors import InvalidInputError
from app.evaluation.charts import histogram
from app.evaluation.prediction import predict_with_progress
from app.evaluation.results import skipped_line, write_results
from app.evaluation.squad_metrics import best_exact_match, best_f1
from app.tasks.base import Task
from app.tasks.question_answering import QuestionAnsweringOptions, Span


def evaluate_qa(
    task: Task[Any], examples: list[QAExample], output_dir: Path, limits: BatchLimits
) -> dict[str, Any]:
    answerable = [example for example in examples if example.answers]
    answers = predict_with_progress(
        task, [(e.question, e.context) for e in answerable], QuestionAnsweringOptions(top_k=1), limits
    )
    records = [
        _prediction_record(example, answer) for example, answer in zip(answerable, answers, strict=True)
    ]
    count = len(records)
    metrics: dict[str, Any] = {
        "examples": count,
        "exact_match": 100 * sum(r["exact_match"] for r in records) / count if count else 0.0,
        "f1": 100 * sum(r["f1"] for r in records) / count if count else 0.0,
        "examples_unreadable": sum("error" in r for r in records),
        "examples_skipped": {"no gold answer": len(examples) - count},
    }
    write_results(output_dir, metrics, records, _report(metrics))
    histogram(
        [100 * r["f1"] for r in records],
        "QA: F1 per question",
        "F1 (0-100)",
        output_dir / "f1_per_question.png",
    )
    return metrics


def _prediction_record(example: QAExample, answer: list[Span] | InvalidInputError) -> dict[str, Any]:
    golds = [gold.text for gold in example.answers]
    record: dict[str, Any] = {"id": example.id, "question": example.question, "gold_answers": golds}
    if isinstance(answer, InvalidInputError):
        return record | {"prediction": "", "error": answer.message, "exact_match": 0.0, "f1": 0.0}
    best = answer[0]
    return record | {
        "prediction": best.answer,
        "score": best.score,
        "start": best.start,
        "end": best.end,
        "exact_match": best_exact_match(best.answer, golds),
        "f1": best_f1(best.answer, golds),
    }


def _report(metrics: dict[str, Any]) -> list[str]:
    unreadable = metrics["examples_unreadable"]
    return [
        "# Question answering evaluation (SQuAD v1.1 metrics)",
        "",
        f"- questions scored: {metrics['examples']}"
        + (f" ({unreadable} the model could not read, scored 0)" if unreadable else ""),
        f"- exact match: {metrics['exact_match']:.2f}; F1: {metrics['f1']:.2f} "
        "(0-100, the best over a question's gold answers)",
        *skipped_line(metrics["examples_skipped"]),
        "",
        "F1 per question: `f1_per_question.png`.",
    ]
