"""The one string Azure ML answers per input, for each task: what /score puts under "0" and batch
scoring writes to predictions.csv."""

from typing import Any

from app.config import TaskName
from app.tasks.base import Scored
from app.tasks.fill_mask import MaskCandidates
from app.tasks.question_answering import Span
from app.tasks.token_classification import WordTag


def top1(masks: MaskCandidates) -> str:
    """Fill-mask: the top-1 token of each mask, joined by ","."""
    return ",".join(candidates[0].token_str for candidates in masks)


def tag_string(tags: list[WordTag]) -> str:
    """NER: Python's str() of the list of tags, one per word, as Azure's NER predictor answers."""
    return str([tag.entity for tag in tags])


def best_label(ranked: list[Scored]) -> str:
    """Classification and NSP: the best label's name."""
    return ranked[0].label


def best_answer(spans: list[Span]) -> str:
    """QA: the best span's text ("" when none qualifies)."""
    return spans[0].answer


def azure_answer(task: TaskName, answer: Any) -> str:
    if task == "fill-mask":
        return top1(answer)
    if task == "token-classification":
        return tag_string(answer)
    if task == "question-answering":
        return best_answer(answer)
    return best_label(answer)


def scored_candidates(task: TaskName, answer: Any) -> list[Any]:
    """One input's answer with its scores, as JSON: what `top_k` asks for on /score and what
    batch scoring's predictions.jsonl holds.

    fill-mask: per mask, `{token_str, token, score}`; classification and NSP: `{label, score}`;
    NER: per word `{word, entity, score, start, end}`; QA: `{answer, score, start, end}`.
    """
    if task == "fill-mask":
        return [
            [{"token_str": c.token_str, "token": c.token, "score": c.score} for c in mask] for mask in answer
        ]
    if task == "token-classification":
        return [
            {"word": t.word, "entity": t.entity, "score": t.score, "start": t.start, "end": t.end}
            for t in answer
        ]
    if task == "question-answering":
        return [{"answer": s.answer, "score": s.score, "start": s.start, "end": s.end} for s in answer]
    return [{"label": s.label, "score": s.score} for s in answer]
