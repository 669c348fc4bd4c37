"""Wire models of /score, used for the OpenAPI document and its examples.

Requests are parsed by `app.serving.contract`, not by these models, so that every mistake gets a
message naming the field and the input index.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel
from pydantic.config import JsonDict

SAMPLE_REQUEST: JsonDict = {
    "input_data": {"input_string": ["Paris is the [MASK] of France.", "Today is a [MASK] day!"]}
}
SAMPLE_RESPONSE: list[JsonValue] = [{"0": "capital"}, {"0": "beautiful"}]

Inputs = Annotated[
    list[str],
    Field(min_length=1, description="Texts holding at least one [MASK] (any case) or <mask>."),
]


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
