"""Shape each task's answers as Azure ML answers them; scores when `top_k` asks for them.

- column and split forms: one record per input, `[{"0": answer}, ...]`
- a plain list (or one row of strings): a plain list; classifiers then answer the newer
  `[{"label": ..., "score": ...}]`
- `top_k`: per input, the candidates with their scores
"""

from collections.abc import Callable
from typing import Any

from app.serving.task_requests import TaskRequest
from app.tasks.azure_answers import best_answer, best_label, tag_string, top1
from app.tasks.base import Scored
from app.tasks.fill_mask import MaskCandidates
from app.tasks.question_answering import Span
from app.tasks.token_classification import WordTag


def shape_answers(request: TaskRequest, answers: list[Any]) -> list[Any]:
    shaped: list[Any] = SHAPERS[request.task](request, answers)
    if request.with_scores or (request.table.plain and request.task in SCORED_WHEN_PLAIN):
        return shaped
    return shaped if request.table.plain else [{"0": answer} for answer in shaped]


def _fill_mask(request: TaskRequest, answers: list[MaskCandidates]) -> list[Any]:
    if request.with_scores:
        return [
            [
                [{"token_str": c.token_str, "token": c.token, "score": c.score} for c in candidates]
                for candidates in masks
            ]
            for masks in answers
        ]
    return [top1(masks) for masks in answers]


def _labels(request: TaskRequest, answers: list[list[Scored]]) -> list[Any]:
    if request.with_scores:
        return [[{"label": s.label, "score": s.score} for s in ranked] for ranked in answers]
    if request.table.plain:
        return [{"label": ranked[0].label, "score": ranked[0].score} for ranked in answers]
    return [best_label(ranked) for ranked in answers]


def _tags(request: TaskRequest, answers: list[list[WordTag]]) -> list[Any]:
    if request.with_scores:
        return [
            [
                {"word": t.word, "entity": t.entity, "score": t.score, "start": t.start, "end": t.end}
                for t in tags
            ]
            for tags in answers
        ]
    return [tag_string(tags) for tags in answers]


def _spans(request: TaskRequest, answers: list[list[Span]]) -> list[Any]:
    if request.with_scores:
        return [
            [{"answer": s.answer, "score": s.score, "start": s.start, "end": s.end} for s in spans]
            for spans in answers
        ]
    return [best_answer(spans) for spans in answers]


SHAPERS: dict[str, Callable[[TaskRequest, Any], list[Any]]] = {
    "fill-mask": _fill_mask,
    "text-classification": _labels,
    "next-sentence-prediction": _labels,
    "token-classification": _tags,
    "question-answering": _spans,
}
SCORED_WHEN_PLAIN = ("text-classification", "next-sentence-prediction")
