"""What the embedding protocols share: their `inputs`, the job, and the request bodies TEI defined
that Hugging Face's task specs took over unchanged (feature-extraction's root-level `normalize`,
`truncate`, `prompt_name`; sentence-similarity's `{"source_sentence", "sentences"}`)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.config import Settings
from app.serving.jobs import InferenceJob, check_input_count
from app.tasks.feature_extraction import EmbeddingOptions

INPUTS_DESCRIPTION = "a string, a list of token ids, or a list of strings or of token-id lists"
Inputs = Annotated[
    StrictStr | list[StrictInt] | list[StrictStr | list[StrictInt]], Field(description=INPUTS_DESCRIPTION)
]
# Only right truncation is built (what sentence-transformers does); TEI spells it either way.
TruncationDirection = Literal["Right", "right"]


def input_list(inputs: Inputs) -> list[str | list[int]]:
    """A single string or id list is one input; a list of them, several."""
    if isinstance(inputs, str) or (inputs and all(isinstance(item, int) for item in inputs)):
        return [inputs]  # type: ignore[list-item]
    return list(inputs)  # type: ignore[arg-type]


def embedding_job(inputs: Inputs, where: str, options: EmbeddingOptions, settings: Settings) -> InferenceJob:
    """`where`: the field holding the inputs, for the limit's message."""
    given = input_list(inputs)
    check_input_count(where, len(given), settings.max_inputs_per_request)
    return InferenceJob("feature-extraction", given, options, logged_inputs=given)


class EmbedAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Inputs
    truncate: bool | None = None
    truncation_direction: TruncationDirection = "Right"
    prompt_name: str | None = None

    def options(self) -> EmbeddingOptions:
        """Every token's vector, as the encoder gives it."""
        return EmbeddingOptions(
            normalize=False,
            truncate=self.truncate,
            prompt_name=self.prompt_name,
            per_token=True,
        )

    def job(self, settings: Settings) -> InferenceJob:
        return embedding_job(self.inputs, "inputs", self.options(), settings)


class EmbedRequest(EmbedAllRequest):
    normalize: bool = True
    dimensions: int | None = Field(default=None, ge=1)

    def options(self) -> EmbeddingOptions:
        """One vector per input."""
        return EmbeddingOptions(self.normalize, self.truncate, self.dimensions, self.prompt_name)


class SimilarityInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_sentence: StrictStr
    sentences: list[StrictStr] = Field(min_length=1)


class SimilarityParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    truncate: bool | None = None
    truncation_direction: TruncationDirection = "Right"
    prompt_name: str | None = None


class SimilarityRequest(BaseModel):
    """The cosine of `source_sentence` to each of `sentences`."""

    model_config = ConfigDict(extra="forbid")
    inputs: SimilarityInput
    parameters: SimilarityParameters | None = None

    def job(self, settings: Settings) -> InferenceJob:
        """The source first, then the sentences; `similarity_scores` reads them in that order."""
        parameters = self.parameters or SimilarityParameters()
        options = EmbeddingOptions(
            normalize=False,
            truncate=parameters.truncate,
            prompt_name=parameters.prompt_name,
        )
        texts: list[str | list[int]] = [self.inputs.source_sentence, *self.inputs.sentences]
        return embedding_job(texts, "inputs.sentences", options, settings)
