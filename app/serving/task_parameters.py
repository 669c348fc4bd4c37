"""The parameters a client may set per task, whatever its protocol: pydantic models that validate
them and convert themselves into the task's options (`to_options`), and one message per mistake."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.config import TaskName
from app.errors import InvalidRequestError
from app.serving.validation import check_top_k
from app.tasks.feature_extraction import EmbeddingOptions
from app.tasks.options import task_options


class TaskParameters(BaseModel):
    """Each task's parameters; subclasses give `top_k` their own description."""

    model_config = ConfigDict(extra="forbid")

    top_k: int | None = None
    _top_k = field_validator("top_k", mode="before")(check_top_k)

    @property
    def with_scores(self) -> bool:
        """`top_k` given, even 1: answer candidates with their scores, not the top-1 alone."""
        return self.top_k is not None

    def to_options(self, task: TaskName) -> Any:
        return task_options(task, self.top_k or 1, with_scores=self.with_scores)


class FillMaskParameters(TaskParameters):
    top_k: int | None = Field(
        default=None,
        description="Answer, for each mask, the k best candidates with token_str, token and score "
        "instead of the top-1 string. 1 to MAX_TOP_K (default 100).",
    )


class ClassificationParameters(TaskParameters):
    """Text classification and next-sentence prediction."""

    top_k: int | None = Field(
        default=None, description="Answer, per input, the k best labels with their scores, best first."
    )


class NerParameters(TaskParameters):
    top_k: int | None = Field(
        default=None,
        description="Any value asks for scores: per input, per word, its tag with word, entity, "
        "score and character offsets start and end.",
    )


class QuestionAnsweringParameters(TaskParameters):
    model_config = ConfigDict(extra="forbid", strict=True)

    top_k: int | None = Field(
        default=None, description="Answer, per input, the k best spans with answer, score, start and end."
    )
    max_answer_len: int = Field(default=30, ge=1, le=512, description="Longest answer, in tokens.")
    doc_stride: int = Field(
        default=128, ge=1, le=256, description="Overlap, in tokens, of the windows over a long context."
    )

    def to_options(self, task: TaskName) -> Any:
        return task_options(
            task, self.top_k or 1, max_answer_length=self.max_answer_len, doc_stride=self.doc_stride
        )


class EmbeddingParameters(TaskParameters):
    """No `top_k`: an embedding has no candidates."""

    model_config = ConfigDict(extra="forbid", strict=True)

    top_k: None = Field(default=None, exclude=True)
    normalize: bool | None = Field(
        default=None, description="Unit vectors; unset: as the model's config says."
    )
    truncate: bool | None = Field(
        default=None, description="Cut an over-long text to what the model reads; unset: AUTO_TRUNCATE."
    )
    dimensions: int | None = Field(default=None, ge=1, description="Keep the first dimensions (Matryoshka).")
    prompt_name: str | None = Field(default=None, description="One of the model's named prompts.")

    def to_options(self, task: TaskName) -> EmbeddingOptions:
        return EmbeddingOptions(self.normalize, self.truncate, self.dimensions, self.prompt_name)


PARAMETER_MODELS: dict[TaskName, type[TaskParameters]] = {
    "fill-mask": FillMaskParameters,
    "text-classification": ClassificationParameters,
    "token-classification": NerParameters,
    "question-answering": QuestionAnsweringParameters,
    "next-sentence-prediction": ClassificationParameters,
    "feature-extraction": EmbeddingParameters,
}


def parse_parameters(
    task: TaskName, given: dict[str, Any], where: dict[str, str], max_top_k: int
) -> TaskParameters:
    """`where` names the block each parameter came from, for the message."""
    model = PARAMETER_MODELS[task]
    try:
        return model.model_validate(given, context={"max_top_k": max_top_k})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "parameters"
        block = where.get(name, "parameters")
        if error["type"] == "extra_forbidden":
            supported = ", ".join(model.model_fields)
            raise InvalidRequestError(
                f"Unknown parameter '{name}' in '{block}'; supported: {supported}."
            ) from None
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] != "value_error":
            message = f"'{name}' in '{block}': {message}; got {error['input']!r}."
        raise InvalidRequestError(message) from None
