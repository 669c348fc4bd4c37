"""Shape each task's answers as Azure ML answers them; scores when `top_k` asks for them.

- column and split forms: one record per input, `[{"0": answer}, ...]`
- a plain list (or one row of strings): a plain list; classifiers then answer the newer
  `[{"label": ..., "score": ...}]`
- `top_k`: per input, the candidates with their scores
- feature-extraction: the vector where the others put their string
"""

from typing import Any

from app.serving.task_columns import TaskRequest
from app.tasks.azure_answers import azure_answer, scored_candidates

SCORED_WHEN_PLAIN = ("text-classification", "next-sentence-prediction")


def shape_answers(request: TaskRequest, answers: list[Any]) -> list[Any]:
    if request.task == "feature-extraction":
        vectors = [embedding.vector for embedding in answers]
        return vectors if request.table.plain else [{"0": vector} for vector in vectors]
    if request.with_scores:
        return [scored_candidates(request.task, answer) for answer in answers]
    if request.table.plain and request.task in SCORED_WHEN_PLAIN:
        return [scored_candidates(request.task, answer)[0] for answer in answers]
    strings = [azure_answer(request.task, answer) for answer in answers]
    return strings if request.table.plain else [{"0": answer} for answer in strings]
