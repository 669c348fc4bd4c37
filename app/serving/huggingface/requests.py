"""What a `POST /` body asks: which task, its examples and its options.

The served model's tasks decide the task; for a checkpoint that fills masks and predicts next
sentences, `{"text", "text_pair"}` inputs mean NSP. `inputs` is one input (answered with one
answer) or a list of them. Every rejection is a 400 naming the field, e.g. `'inputs[2].context'`
or `'parameters.top_k'`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from app.config import TaskName
from app.errors import InvalidRequestError
from app.serving.huggingface.schemas import (
    PARAMETER_MODELS,
    PipelineParameters,
    QuestionContextInput,
    SentencePairInput,
    TextPairInput,
)
from app.serving.jobs import check_input_count
from app.serving.validation import json_type, reject_unknown
from app.tasks.checkpoint import ServedModel

BODY_KEYS = ("inputs", "parameters")
EXAMPLE = '{"inputs": "Paris is the [MASK] of France.", "parameters": {"top_k": 3}}'
PAIR_KEYS = ("text", "text_pair")


@dataclass(frozen=True)
class HuggingFaceJob:
    task: TaskName
    examples: list[Any]
    parameters: PipelineParameters
    single: bool  # `inputs` was one input, not a list: the answer is its answer alone

    @property
    def options(self) -> Any:
        return self.parameters.to_options()

    @property
    def top_k(self) -> int:
        """QA answers an object where it is 1, a list where it is more."""
        top_k = getattr(self.parameters, "top_k", None)
        return top_k if isinstance(top_k, int) else 1


def parse_job(body: object, model: ServedModel, max_inputs: int, max_top_k: int) -> HuggingFaceJob:
    if not isinstance(body, dict):
        raise InvalidRequestError(f"The body must be a JSON object such as {EXAMPLE}; got {json_type(body)}.")
    reject_unknown(body, BODY_KEYS, "the body")
    if "inputs" not in body:
        raise InvalidRequestError(f"Missing 'inputs': send {EXAMPLE}.")
    inputs = body["inputs"]
    task_name = choose_task(inputs, model)
    model.task(task_name)  # a task this checkpoint cannot answer: 400 saying why, before its inputs
    single = not isinstance(inputs, list)
    items = [inputs] if single else inputs
    if not items:
        raise InvalidRequestError("'inputs' is empty: send an input, or a list of them.")
    check_input_count("inputs", len(items), max_inputs)
    reader = READERS[task_name]
    examples = [reader(item, "inputs" if single else f"inputs[{index}]") for index, item in enumerate(items)]
    parameters = read_parameters(task_name, body.get("parameters"), max_top_k)
    return HuggingFaceJob(task_name, examples, parameters, single)


def choose_task(inputs: object, model: ServedModel) -> TaskName:
    first = inputs[0] if isinstance(inputs, list) and inputs else inputs
    pairs = isinstance(first, dict) and any(key in first for key in PAIR_KEYS)
    tasks = list(model.tasks)
    if "fill-mask" in tasks and "next-sentence-prediction" in tasks:
        return "next-sentence-prediction" if pairs else "fill-mask"
    if tasks == ["fill-mask"] and pairs and "next-sentence-prediction" in model.unavailable:
        return "next-sentence-prediction"  # model.task() then says why it cannot
    return tasks[0]


def read_parameters(task: TaskName, parameters: object, max_top_k: int) -> PipelineParameters:
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise InvalidRequestError(f"'parameters' must be an object; got {json_type(parameters)}.")
    model = PARAMETER_MODELS[task]
    try:
        return model.model_validate(parameters, context={"max_top_k": max_top_k})
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "extra_forbidden":
            raise InvalidRequestError(
                f"Unknown parameter 'parameters.{error['loc'][0]}' for {task}; supported: "
                f"{', '.join(model.model_fields)}."
            ) from None
        raise InvalidRequestError(_message(error, "parameters")) from None


def _message(error: Any, where: str) -> str:
    """One pydantic error as a sentence naming the field."""
    field = ".".join([where, *(str(part) for part in error["loc"])])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error":
        if error["loc"] and f"'{error['loc'][-1]}'" in message:  # check_top_k names the field itself
            return message.replace(f"'{error['loc'][-1]}'", f"'{field}'", 1)
        return message if "'" in message else f"'{field}' {message}."
    if error["type"] == "missing":
        return f"Missing '{field}'."
    return f"'{field}': {message}; got {error['input']!r}."


def _text(item: object, where: str) -> str:
    if not isinstance(item, str):
        raise InvalidRequestError(f"'{where}' must be a string; got {json_type(item)}.")
    return item


def _object(item: object, where: str, model: type[BaseModel]) -> Any:
    if not isinstance(item, dict):
        fields = " and ".join(f"'{name}'" for name in model.model_fields)
        raise InvalidRequestError(f"'{where}' must be an object with {fields}; got {json_type(item)}.")
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise InvalidRequestError(_message(exc.errors()[0], where)) from None


def read_fill_mask(item: object, where: str) -> str:
    return _text(item, where)


def read_classification(item: object, where: str) -> tuple[str, str | None]:
    if isinstance(item, dict):
        pair: TextPairInput = _object(item, where, TextPairInput)
        return pair.text, pair.text_pair
    return _text(item, where), None


def read_next_sentence(item: object, where: str) -> tuple[str, str]:
    pair: SentencePairInput = _object(item, where, SentencePairInput)
    return pair.text, pair.text_pair


def read_question(item: object, where: str) -> tuple[str, str]:
    question: QuestionContextInput = _object(item, where, QuestionContextInput)
    return question.question, question.context


READERS: dict[TaskName, Callable[[object, str], Any]] = {
    "fill-mask": read_fill_mask,
    "text-classification": read_classification,
    "token-classification": _text,
    "question-answering": read_question,
    "next-sentence-prediction": read_next_sentence,
}
