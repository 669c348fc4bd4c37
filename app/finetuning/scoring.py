"""How good a model is on a split, through the server's own task code: what the served model
will answer (NER per word, QA spans by run_qa's rules) is what is scored.

`split_metrics` is cheap enough to run at every epoch (it picks the best checkpoint);
`write_split_results` runs the evaluation module of the task at the end, which also writes
predictions, a report and a chart.
"""

from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.engine.batching import BatchLimits
from app.engine.offline import predict_all
from app.errors import InvalidInputError
from app.evaluation.classification import classification_metrics, evaluate_classification
from app.evaluation.ner import evaluate_ner, ner_metrics
from app.evaluation.qa import evaluate_qa
from app.evaluation.squad_metrics import best_exact_match, best_f1
from app.finetuning.options import FinetuneTask
from app.tasks.base import Task
from app.tasks.checkpoint import bind_task
from app.tasks.question_answering import QuestionAnsweringOptions
from app.tasks.text_classification import ClassificationOptions
from app.tasks.token_classification import TokenClassificationOptions, Words

LIMITS = BatchLimits(max_batch_tokens=4096, max_batch_size=32)


def bind(task: FinetuneTask, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Task[Any]:
    """The served task's code on the model being trained."""
    return bind_task(task, model, tokenizer, source="fine-tuning")


def split_metrics(
    task: FinetuneTask, bound: Task[Any], examples: list[Any], labels: list[str] | None, doc_stride: int
) -> dict[str, float]:
    """The task's headline metrics (no per-class detail), for the epoch's log and the best checkpoint."""
    if task == "text-classification":
        answers: list[Any] = predict_all(
            bound, [(e.text, e.text_pair) for e in examples], ClassificationOptions(), *_limits()
        )
        scored = [(e.label, a[0].label) for e, a in zip(examples, answers, strict=True) if _ok(a)]
        metrics = classification_metrics([g for g, _ in scored], [p for _, p in scored], labels or [])
        return {name: metrics[name] for name in ("accuracy", "macro_f1", "weighted_f1")}
    if task == "token-classification":
        words = [Words.from_tokens(e.tokens) for e in examples]
        answers = predict_all(bound, words, TokenClassificationOptions(), *_limits())
        pairs = [(e.tags, [t.entity for t in a]) for e, a in zip(examples, answers, strict=True) if _ok(a)]
        metrics = ner_metrics([g for g, _ in pairs], [p for _, p in pairs])
        return {name: metrics[name] for name in ("precision", "recall", "f1", "accuracy")}
    answerable = [e for e in examples if e.answers]
    options = QuestionAnsweringOptions(doc_stride=doc_stride)
    answers = predict_all(bound, [(e.question, e.context) for e in answerable], options, *_limits())
    predictions = [a[0].answer if _ok(a) else "" for a in answers]
    golds = [[gold.text for gold in e.answers] for e in answerable]
    count = max(1, len(answerable))
    return {
        "exact_match": 100
        * sum(best_exact_match(p, g) for p, g in zip(predictions, golds, strict=True))
        / count,
        "f1": 100 * sum(best_f1(p, g) for p, g in zip(predictions, golds, strict=True)) / count,
    }


def write_split_results(
    task: FinetuneTask, bound: Task[Any], examples: list[Any], labels: list[str] | None, directory: Path
) -> dict[str, Any]:
    """The evaluation module's full results for one split, written to `directory`."""
    if task == "text-classification":
        assert labels is not None
        options = ClassificationOptions(top_k=len(labels))
        return evaluate_classification(bound, examples, labels, options, directory, LIMITS)
    if task == "token-classification":
        return evaluate_ner(bound, examples, directory, LIMITS)
    return evaluate_qa(bound, examples, directory, LIMITS)


def _limits() -> tuple[int, int]:
    return LIMITS.max_batch_tokens, LIMITS.max_batch_size


def _ok(answer: Any) -> bool:
    """Training data was checked, but a text the model cannot read (a QA question too long for
    its window) still answers an error: it is scored as no answer."""
    return not isinstance(answer, InvalidInputError)
