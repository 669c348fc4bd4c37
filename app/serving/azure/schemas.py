"""Wire models of /score per task: pydantic validates parameters and cells with them, and the
OpenAPI document shows them with examples.

The envelope (which key, which form) is read by `app.serving.azure.contract` so that every mistake gets
a message naming the field and the input index; `app.serving.task_columns` turns these models'
validation errors into such messages.
"""

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    RootModel,
)
from pydantic.config import JsonDict

from app.serving.responses import ErrorResponse
from app.serving.task_parameters import (
    ClassificationParameters,
    FillMaskParameters,
    NerParameters,
    QuestionAnsweringParameters,
)
from app.serving.validation import NonBlankText, Text, Tokens

SAMPLE_REQUEST: JsonDict = {
    "input_data": {"input_string": ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]}
}
SAMPLE_RESPONSE: list[JsonValue] = [{"0": "capital"}, {"0": "beautiful"}]


Inputs = Annotated[
    list[str],
    Field(min_length=1, description="Texts holding at least one [MASK] (any case) or <mask>."),
]


class InputData(BaseModel):
    """Fill-mask: one column of texts with [MASK]."""

    model_config = ConfigDict(extra="forbid")

    input_string: Inputs
    parameters: FillMaskParameters | None = None


class ClassificationInputData(BaseModel):
    """Text classification: one column of texts, or two (any names) for sentence pairs."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"input_string": ["i feel so happy today", "i am scared"]}]},
    )

    input_string: list[Text] | None = Field(default=None, description="Also `text`, or any name.")
    text_pair: list[Text] | None = Field(default=None, description="A second column makes pairs.")
    parameters: ClassificationParameters | None = None


class TokenClassificationInputData(BaseModel):
    """NER: texts tagged word by word (whitespace-separated), or `tokens` given as lists."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"input_string": ["EU rejects German call"]}]}
    )

    input_string: list[Text] | None = Field(default=None, description="Also `text`.")
    tokens: list[Tokens] | None = None
    parameters: NerParameters | None = None


class QuestionAnsweringInputData(BaseModel):
    """QA: a question and its context per row; one row may be given as two strings."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": ["Where is Mount Kenya?"], "context": ["Mount Kenya is in Kenya."]},
                {"question": "Where is Mount Kenya?", "context": "Mount Kenya is in Kenya."},
            ]
        },
    )

    question: list[NonBlankText] | NonBlankText
    context: list[NonBlankText] | NonBlankText
    parameters: QuestionAnsweringParameters | None = None


class NextSentenceInputData(BaseModel):
    """NSP: two columns (any names); does the second sentence follow the first?"""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"sentence1": ["I went home."], "sentence2": ["Then I slept."]}]},
    )

    sentence1: list[Text] | None = None
    sentence2: list[Text] | None = None
    parameters: ClassificationParameters | None = None


class SplitInputData(BaseModel):
    """pandas' split orient, as Azure's samples send it: named columns, one list per row."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"columns": ["question", "context"], "index": [0], "data": [["Where?", "Here."]]}]
        },
    )

    columns: list[str] = Field(min_length=1)
    index: list[JsonValue] | None = None
    data: list[list[JsonValue]]


AnyInputData = (
    InputData
    | ClassificationInputData
    | TokenClassificationInputData
    | QuestionAnsweringInputData
    | NextSentenceInputData
    | SplitInputData
    | list[JsonValue]
)


class ScoreRequest(BaseModel):
    """Azure ML's request, for the task the served checkpoint answers (see /health/ready).
    `inputs` may replace `input_data`; a plain list under either key is answered with a plain list."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SAMPLE_REQUEST]})

    input_data: AnyInputData | None = None
    inputs: AnyInputData | None = None
    parameters: dict[str, JsonValue] | None = Field(
        default=None, description="The task's parameters (see its *Parameters model); also `params`."
    )


class MaskCandidate(BaseModel):
    token_str: str = Field(description="The candidate as transformers' fill-mask pipeline decodes it.")
    token: int = Field(description="Vocabulary id.")
    score: float = Field(description="Softmax probability over the vocabulary at this mask.")


class LabelScore(BaseModel):
    label: str
    score: float


class WordEntity(BaseModel):
    word: str
    entity: str
    score: float
    start: int = Field(description="Character offset of the word in the input.")
    end: int


class AnswerSpan(BaseModel):
    answer: str
    score: float
    start: int = Field(description="Character offset of the answer in the context.")
    end: int


class ScoreResponse(
    RootModel[
        list[dict[str, str]]
        | list[str]
        | list[LabelScore]
        | list[list[list[MaskCandidate]]]
        | list[list[LabelScore]]
        | list[list[WordEntity]]
        | list[list[AnswerSpan]]
    ]
):
    """One answer per input, in order.

    - column or split form: `[{"0": answer}, ...]` — fill-mask the top-1 token (several masks
      joined by ","), classification and NSP the label, NER `str()` of the tag list, QA the span.
    - a plain list (or one QA row as strings): a plain list; classification and NSP answer
      `[{"label", "score"}]`.
    - with `top_k`: per input, the candidates with scores (fill-mask: per mask).
    """

    model_config = ConfigDict(json_schema_extra={"examples": [SAMPLE_RESPONSE]})


# The error answers of an inference route, for its OpenAPI `responses`.
INFERENCE_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 429, 503, 504)
}
