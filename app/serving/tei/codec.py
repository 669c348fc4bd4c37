"""TEI's request bodies to `InferenceJob`s, and the embeddings back to its answers.

As text-embeddings-inference has them (router/src/http/types.rs): `inputs` is a string or a list
of strings or of token-id lists; `/embed` answers one vector per input (`normalize` defaults to
true there), `/embed_all` one vector per token. `truncate` unset takes the server's AUTO_TRUNCATE.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.config import Settings
from app.serving.jobs import InferenceJob, check_input_count
from app.tasks.feature_extraction import Embedding, EmbeddingOptions

Inputs = StrictStr | list[StrictInt] | list[StrictStr | list[StrictInt]]


class EmbedAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Inputs
    truncate: bool | None = None
    truncation_direction: Literal["Right", "right"] = "Right"
    prompt_name: str | None = None


class EmbedRequest(EmbedAllRequest):
    normalize: bool = True
    dimensions: int | None = Field(default=None, ge=1)


def input_list(inputs: Inputs) -> list[str | list[int]]:
    """A single string or id list is one input; a list of them, several."""
    if isinstance(inputs, str) or (inputs and all(isinstance(item, int) for item in inputs)):
        return [inputs]  # type: ignore[list-item]
    return list(inputs)  # type: ignore[arg-type]


def embed_job(request: EmbedAllRequest, settings: Settings) -> InferenceJob:
    inputs = input_list(request.inputs)
    check_input_count("inputs", len(inputs), settings.max_inputs_per_request)
    per_token = not isinstance(request, EmbedRequest)
    options = EmbeddingOptions(
        normalize=request.normalize if isinstance(request, EmbedRequest) else False,
        truncate=settings.auto_truncate if request.truncate is None else request.truncate,
        dimensions=request.dimensions if isinstance(request, EmbedRequest) else None,
        prompt_name=request.prompt_name,
        per_token=per_token,
    )
    return InferenceJob("feature-extraction", inputs, options, logged_inputs=inputs)


def encode_embeddings(embeddings: list[Embedding]) -> list[list[float]]:
    return [embedding.vector for embedding in embeddings]


def encode_token_embeddings(embeddings: list[Embedding]) -> list[list[list[float]]]:
    return [embedding.tokens or [] for embedding in embeddings]
