"""`python -m app evaluate`: the served task's metrics on labelled data.

The checkpoint decides the task (its first served task), or `--task` does; `--nsp-from-text`
asks for next-sentence prediction, which a pre-training checkpoint serves beside fill-mask.
Exit status: 0 done, 1 the model could not be loaded, 2 the data or the arguments are at fault.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import Settings, TaskName
from app.datasets.conll import load_tagged_sentences
from app.datasets.records import DatasetError
from app.datasets.sentence_pairs import build_sentence_pairs, read_documents
from app.datasets.squad import load_qa_examples
from app.datasets.text_classification import load_labelled_texts
from app.engine.batching import BatchLimits
from app.errors import InvalidRequestError, ModelLoadError
from app.evaluation.classification import evaluate_classification
from app.evaluation.fill_mask import EvalOptions, evaluate
from app.evaluation.fill_mask_data import load_examples
from app.evaluation.ner import evaluate_ner
from app.evaluation.nsp import evaluate_next_sentence, labelled_pairs
from app.evaluation.qa import evaluate_qa
from app.tasks.base import Task
from app.tasks.checkpoint import ServedModel, load_configured_model
from app.tasks.fill_mask import FillMaskTask
from app.tasks.next_sentence import NSP_LABELS
from app.tasks.text_classification import ClassificationOptions

NSP: TaskName = "next-sentence-prediction"


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        _check_sources(args, settings)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        served = load_configured_model(settings)
    except ModelLoadError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    name: TaskName = settings.task or (NSP if args.nsp_from_text else served.primary_task)
    limits = BatchLimits(settings.max_batch_tokens, settings.max_batch_size)
    try:
        headline = EVALUATORS[name](args, served, served.task(name), limits)
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except InvalidRequestError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"{headline}; in {args.output}")
    return 0


def _check_sources(args: argparse.Namespace, settings: Settings) -> None:
    """Before the model loads: exactly one source of examples, and it exists."""
    source: Path | None = args.data
    if args.nsp_from_text is not None:
        if args.data is not None:
            raise DatasetError("give DATA or --nsp-from-text, not both")
        if settings.task not in (None, NSP):
            raise DatasetError(f"--nsp-from-text evaluates {NSP}, not {settings.task}")
        source = args.nsp_from_text
    if source is None:
        raise DatasetError("give DATA, the labelled data file (or --nsp-from-text FILE)")
    if not source.is_file():
        raise DatasetError(f"{source} is not a file")


def _fill_mask(args: argparse.Namespace, served: ServedModel, task: Task[Any], limits: BatchLimits) -> str:
    examples, skipped = load_examples(args.data, args.data_format, args.text_column, args.label_column)
    options = EvalOptions(
        output_dir=args.output,
        top_k=args.top_k,
        pseudo_perplexity=args.pseudo_perplexity,
        max_batch_tokens=limits.max_batch_tokens,
        max_batch_size=limits.max_batch_size,
    )
    assert isinstance(task, FillMaskTask)
    metrics = evaluate(task, examples, options, skipped)
    headline = f"top-1 {metrics['top1_accuracy']:.4f}, MRR@{args.top_k} {metrics['mrr']:.4f}"
    if "pseudo_perplexity" in metrics:
        headline += f", pseudo-perplexity {metrics['pseudo_perplexity']:.3f}"
    return f"{metrics['examples']} examples, {metrics['masks_scored']} masks scored: {headline}"


def _text_classification(
    args: argparse.Namespace, served: ServedModel, task: Task[Any], limits: BatchLimits
) -> str:
    labels = served.labels or []
    examples = load_labelled_texts(
        args.data, labels, args.text_column or "text", args.text_pair_column, args.label_column or "label"
    )
    metrics = evaluate_classification(
        task, examples, labels, ClassificationOptions(top_k=len(labels)), args.output, limits
    )
    return (
        f"{metrics['examples']} examples: accuracy {metrics['accuracy']:.4f}, "
        f"macro F1 {metrics['macro_f1']:.4f}, weighted F1 {metrics['weighted_f1']:.4f}"
    )


def _token_classification(
    args: argparse.Namespace, served: ServedModel, task: Task[Any], limits: BatchLimits
) -> str:
    sentences = load_tagged_sentences(
        args.data, served.labels or [], args.tokens_column or "tokens", args.tags_column
    )
    metrics = evaluate_ner(task, sentences, args.output, limits)
    return (
        f"{metrics['examples']} sentences: entity precision {metrics['precision']:.4f}, "
        f"recall {metrics['recall']:.4f}, F1 {metrics['f1']:.4f}; word accuracy {metrics['accuracy']:.4f}"
    )


def _question_answering(
    args: argparse.Namespace, served: ServedModel, task: Task[Any], limits: BatchLimits
) -> str:
    examples = load_qa_examples(
        args.data,
        args.question_column or "question",
        args.context_column or "context",
        args.answers_column or "answers",
    )
    metrics = evaluate_qa(task, examples, args.output, limits)
    return (
        f"{metrics['examples']} questions: exact match {metrics['exact_match']:.2f}, F1 {metrics['f1']:.2f}"
    )


def _next_sentence(
    args: argparse.Namespace, served: ServedModel, task: Task[Any], limits: BatchLimits
) -> str:
    if args.nsp_from_text is not None:
        examples = labelled_pairs(build_sentence_pairs(read_documents(args.nsp_from_text), args.seed))
    else:
        examples = load_labelled_texts(
            args.data,
            NSP_LABELS,
            args.text_column or "text",
            args.text_pair_column or "text_pair",
            args.label_column or "label",
        )
    metrics = evaluate_next_sentence(task, examples, args.output, limits)
    return f"{metrics['examples']} pairs: accuracy {metrics['accuracy']:.4f}"


Evaluator = Callable[[argparse.Namespace, ServedModel, Task[Any], BatchLimits], str]
EVALUATORS: dict[TaskName, Evaluator] = {
    "fill-mask": _fill_mask,
    "text-classification": _text_classification,
    "token-classification": _token_classification,
    "question-answering": _question_answering,
    "next-sentence-prediction": _next_sentence,
}
