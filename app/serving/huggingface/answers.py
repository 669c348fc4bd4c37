"""Each task's answers in the Hugging Face task schemas, as transformers' pipelines write them
(and HF's Inference API, which InferenceClient's typed methods read):

- fill-mask: `[{score, token, token_str, sequence}]`, best first; a list of those per mask when the
  input has several;
- text-classification: `[{label, score}]`, best first; one input is still answered `[[...]]`,
  as HF's Inference API does and `InferenceClient.text_classification` expects;
- token-classification: the pipeline's entities;
- question-answering: `{answer, score, start, end}`; a list of them when `top_k` > 1;
- next-sentence-prediction: `[{label: IsNext | NotNext, score}]`, best first.

One input gets its answer alone; a list of inputs a list of answers.
"""

from collections.abc import Callable
from typing import Any

from app.config import TaskName
from app.tasks.base import Scored
from app.tasks.fill_mask import MaskCandidates
from app.tasks.question_answering import Span


def fill_mask_answer(masks: MaskCandidates) -> list[Any]:
    shaped = [
        [{"score": c.score, "token": c.token, "token_str": c.token_str, "sequence": c.sequence} for c in mask]
        for mask in masks
    ]
    return shaped[0] if len(shaped) == 1 else shaped


def labels_answer(ranked: list[Scored]) -> list[dict[str, Any]]:
    return [{"label": scored.label, "score": scored.score} for scored in ranked]


def spans_answer(spans: list[Span], top_k: int) -> dict[str, Any] | list[dict[str, Any]]:
    shaped = [{"answer": s.answer, "score": s.score, "start": s.start, "end": s.end} for s in spans]
    return shaped[0] if top_k == 1 else shaped


ANSWER_SHAPES: dict[TaskName, Callable[[Any], Any]] = {
    "fill-mask": fill_mask_answer,
    "text-classification": labels_answer,
    "token-classification": list,  # the pipeline's own entities (app.tasks.token_entities)
    "next-sentence-prediction": labels_answer,
}


def task_answer(task: TaskName, answer: Any, top_k: int = 1) -> Any:
    """One input's answer in its task's HF schema (`top_k` matters to QA: more than 1 makes a list)."""
    if task == "question-answering":
        return spans_answer(answer, top_k)
    return ANSWER_SHAPES[task](answer)


def huggingface_answers(task: TaskName, answers: list[Any], single: bool, top_k: int = 1) -> Any:
    """The whole body: the one input's answer, or the list of every input's."""
    shaped = [task_answer(task, answer, top_k) for answer in answers]
    if not single:
        return shaped
    return shaped if task == "text-classification" else shaped[0]
