"""Wire models of /score, used for the OpenAPI document and its examples.

Requests are parsed by `app.serving.contract`, not by these models, so that every mistake gets a
message naming the field and the input index.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel, ValidationInfo, field_validator
from pydantic.config import JsonDict

SAMPLE_REQUEST: JsonDict = {
    "input_data": {"input_string": ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]}
}
SAMPLE_RESPONSE: list[JsonValue] = [{"0": "capital"}, {"0": "beautiful"}]

Inputs = Annotated[
    list[str],
    Field(min_length=1, description="Texts holding at least one [MASK] (any case) or <mask>."),
]


def check_top_k(value: object, info: ValidationInfo) -> object:
    """Strict: an integer from 1 to MAX_TOP_K (passed as validation context), never 2.5, "3" or true."""
    max_top_k = (info.context or {}).get("max_top_k", 100)
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_top_k:
        raise ValueError(f"'top_k' must be an integer from 1 to {max_top_k}; got {value!r}.")
    return value


class FillMaskParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(
        default=None,
        description="Answer, for each mask, the k best candidates with token_str, token and score "
        "instead of the top-1 string. 1 to MAX_TOP_K (default 100).",
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)


class ClassificationParameters(BaseModel):
    """Text classification and next-sentence prediction."""

    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(
        default=None, description="Answer, per input, the k best labels with their scores, best first."
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)


class NerParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(
        default=None,
        description="Any value asks for scores: per input, per word, its tag with word, entity, "
        "score and character offsets start and end.",
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)


class QuestionAnsweringParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    top_k: int | None = Field(
        default=None, description="Answer, per input, the k best spans with answer, score, start and end."
    )
    max_answer_len: int = Field(default=30, ge=1, le=512, description="Longest answer, in tokens.")
    doc_stride: int = Field(
        default=128, ge=1, le=256, description="Overlap, in tokens, of the windows over a long context."
    )
    _top_k = field_validator("top_k", mode="before")(check_top_k)


class ScoreParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(
        default=None,
        ge=1,
        description="Answer, for each mask, the k best candidates with token_str, token and score "
        "instead of the top-1 string. 1 to MAX_TOP_K (default 100).",
    )


class InputData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_string: Inputs
    parameters: ScoreParameters | None = None


class ScoreRequest(BaseModel):
    """Azure ML's fill-mask request. `inputs` may replace `input_data` (Azure's 2023 format);
    a plain list under either key is answered with a plain list of strings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SAMPLE_REQUEST]})

    input_data: InputData | Inputs | None = None
    inputs: InputData | Inputs | None = None
    parameters: ScoreParameters | None = Field(default=None, description="Also accepted as `params`.")


class MaskCandidate(BaseModel):
    token_str: str = Field(description="The candidate as transformers' fill-mask pipeline decodes it.")
    token: int = Field(description="Vocabulary id.")
    score: float = Field(description="Softmax probability over the vocabulary at this mask.")


class ScoreResponse(RootModel[list[dict[str, str]] | list[str] | list[list[list[MaskCandidate]]]]):
    """One answer per input, in order.

    - `input_data.input_string` or `inputs.input_string`: `[{"0": "capital"}, ...]`
    - a plain list of inputs: `["capital", ...]`
    - with `top_k`: for each input, for each mask, the candidates best first.

    Several masks in one input are answered as their top-1 tokens joined by ",".
    """

    model_config = ConfigDict(json_schema_extra={"examples": [SAMPLE_RESPONSE]})


class ErrorResponse(BaseModel):
    message: str = Field(
        examples=["Input 1 has no mask: write [MASK] (any case) or <mask> where the word goes."]
    )
