"""What batch scoring writes per scored row: Azure's predictions.csv row, or a predictions.jsonl record.

predictions.csv holds, per row, the string /score answers under "0" (`azure_answer`); a jsonl
record adds the row's inputs and the task's scored candidates.
"""

import csv
import json
from collections.abc import Callable
from typing import IO, Any

from app.config import TaskName
from app.tasks.azure_answers import azure_answer
from app.tasks.base import Scored
from app.tasks.fill_mask import MaskCandidates
from app.tasks.question_answering import Span
from app.tasks.token_classification import WordTag

# (file name, row number, inputs by field name, the task's answer)
ScoredLine = tuple[str, int, dict[str, Any], Any]


def write_csv(stream: IO[str], task: TaskName, lines: list[ScoredLine]) -> None:
    """Azure's layout, no header: row_number_per_file, prediction, batch_input_file_name."""
    csv.writer(stream).writerows([row, azure_answer(task, answer), file] for file, row, _, answer in lines)


def write_jsonl(stream: IO[str], task: TaskName, lines: list[ScoredLine]) -> None:
    key, candidates = CANDIDATES[task]
    for file, row, inputs, answer in lines:
        record: dict[str, Any] = {
            "batch_input_file_name": file,
            "row_number_per_file": row,
            **inputs,
            "prediction": azure_answer(task, answer),
            key: candidates(answer),
        }
        stream.write(json.dumps(record) + "\n")


def _masks(masks: MaskCandidates) -> list[Any]:
    return [[{"token_str": c.token_str, "token": c.token, "score": c.score} for c in mask] for mask in masks]


def _labels(ranked: list[Scored]) -> list[Any]:
    return [{"label": s.label, "score": s.score} for s in ranked]


def _tags(tags: list[WordTag]) -> list[Any]:
    return [
        {"word": t.word, "entity": t.entity, "score": t.score, "start": t.start, "end": t.end} for t in tags
    ]


def _spans(spans: list[Span]) -> list[Any]:
    return [{"answer": s.answer, "score": s.score, "start": s.start, "end": s.end} for s in spans]


# Per task: the jsonl key of the scored candidates, and how to write them.
CANDIDATES: dict[TaskName, tuple[str, Callable[[Any], list[Any]]]] = {
    "fill-mask": ("masks", _masks),
    "text-classification": ("labels", _labels),
    "next-sentence-prediction": ("labels", _labels),
    "token-classification": ("tags", _tags),
    "question-answering": ("answers", _spans),
}
