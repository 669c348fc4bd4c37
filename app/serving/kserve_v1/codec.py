"""A v1 predict body to an `InferenceJob`, and the task's result records to `predictions`.

Instances, per task: a text (fill-mask, NER, classification, feature-extraction); a pair of texts,
as `[text, text_pair]` or `{"text", "text_pair"}` (classification, next-sentence prediction);
`{"question", "context"}` (QA).
Predictions, as KServe's huggingfaceserver and /score answer them: fill-mask the top-1 token of each
mask (several masks: joined by spaces, as KServe decodes them), classification and NSP the label
name, NER the tag of each word, QA the answer's text, feature-extraction the vector.
"""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, TypeAdapter, ValidationError

from app.config import Settings, TaskName
from app.errors import InvalidRequestError
from app.serving.jobs import InferenceJob, check_input_count
from app.tasks.base import Scored
from app.tasks.checkpoint import ServedModel
from app.tasks.feature_extraction import Embedding
from app.tasks.fill_mask import MaskCandidates
from app.tasks.options import task_options
from app.tasks.question_answering import Span
from app.tasks.token_classification import Words, WordTag


class TextPair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr
    text_pair: StrictStr


class QuestionContext(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    context: StrictStr


TEXT: TypeAdapter[str] = TypeAdapter(StrictStr)
PAIR: TypeAdapter[tuple[str, str] | TextPair] = TypeAdapter(tuple[StrictStr, StrictStr] | TextPair)
TEXT_OR_PAIR: TypeAdapter[str | tuple[str, str] | TextPair] = TypeAdapter(
    StrictStr | tuple[StrictStr, StrictStr] | TextPair
)
QUESTION: TypeAdapter[QuestionContext] = TypeAdapter(QuestionContext)
INSTANCE_TYPES: dict[TaskName, tuple[TypeAdapter[Any], str]] = {
    "fill-mask": (TEXT, "a string with [MASK]"),
    "token-classification": (TEXT, "a string"),
    "text-classification": (
        TEXT_OR_PAIR,
        'a string, or a pair as [text, text_pair] or {"text", "text_pair"}',
    ),
    "next-sentence-prediction": (PAIR, 'a pair, as [text, text_pair] or {"text", "text_pair"}'),
    "question-answering": (QUESTION, 'an object {"question", "context"}'),
    "feature-extraction": (TEXT, "a string"),
}
PREDICT_EXAMPLE = {"instances": ["Paris is the [MASK] of France."]}
EXAMPLE = json.dumps(PREDICT_EXAMPLE)


def _instances(body: object) -> tuple[str, list[Any]]:
    """KServe reads "inputs" where both are sent; unknown fields are refused, not ignored."""
    if not isinstance(body, dict):
        raise InvalidRequestError(f"The body must be a JSON object such as {EXAMPLE}.")
    unknown = [name for name in body if name not in ("instances", "inputs")]
    if unknown:
        raise InvalidRequestError(
            f"Unknown field '{unknown[0]}' in the body; expected 'instances' (or 'inputs')."
        )
    key = "inputs" if "inputs" in body else "instances"
    if key not in body:
        raise InvalidRequestError(f"Missing 'instances' (or 'inputs'): send {EXAMPLE}.")
    instances = body[key]
    if not isinstance(instances, list) or not instances:
        raise InvalidRequestError(f"'{key}' must be a non-empty list of instances, such as {EXAMPLE}.")
    return key, instances


def _task_for(instances: list[Any], model: ServedModel) -> TaskName:
    """A checkpoint that fills masks and predicts next sentences: pairs mean NSP, as on /score."""
    if "next-sentence-prediction" in model.tasks and not isinstance(instances[0], str):
        return "next-sentence-prediction"
    return next(iter(model.tasks))


def _example(task: TaskName, instance: Any) -> Any:
    if task in ("fill-mask", "feature-extraction"):
        return instance
    if task == "token-classification":
        return Words.from_text(instance)
    if isinstance(instance, QuestionContext):
        return (instance.question, instance.context)
    if isinstance(instance, TextPair):
        return (instance.text, instance.text_pair)
    if task == "text-classification":
        return (instance, None) if isinstance(instance, str) else tuple(instance)
    return tuple(instance)


def decode_predict(body: object, model: ServedModel, settings: Settings) -> InferenceJob:
    key, instances = _instances(body)
    check_input_count(key, len(instances), settings.max_inputs_per_request)
    task = _task_for(instances, model)
    adapter, expected = INSTANCE_TYPES[task]
    examples = []
    for index, instance in enumerate(instances):
        try:
            examples.append(_example(task, adapter.validate_python(instance)))
        except ValidationError:
            raise InvalidRequestError(
                f"'{key}[{index}]' must be {expected} for this {task} model; got {instance!r:.80}."
            ) from None
    return InferenceJob(task, examples, task_options(task), logged_inputs=instances)


def prediction(task: TaskName, result: Any) -> Any:
    if task == "fill-mask":
        masks: MaskCandidates = result
        return " ".join(candidates[0].token_str for candidates in masks)
    if task == "token-classification":
        tags: list[WordTag] = result
        return [tag.entity for tag in tags]
    if task == "question-answering":
        spans: list[Span] = result
        return spans[0].answer
    if task == "feature-extraction":  # the vector, as huggingfaceserver's text_embedding answers
        embedding: Embedding = result
        return embedding.vector
    ranked: list[Scored] = result
    return ranked[0].label


def encode_predictions(task: TaskName, results: list[Any]) -> dict[str, list[Any]]:
    return {"predictions": [prediction(task, result) for result in results]}
