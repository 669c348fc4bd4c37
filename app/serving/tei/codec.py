"""TEI's request bodies to `InferenceJob`s, and the embeddings back to its answers.

As text-embeddings-inference has them (router/src/http/types.rs): `inputs` is a string or a list
of strings or of token-id lists; `/embed` answers one vector per input (`normalize` defaults to
true there), `/embed_all` one vector per token. `truncate` unset takes the server's AUTO_TRUNCATE.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.config import Settings
from app.serving.embedding_inputs import Inputs, embedding_job
from app.serving.jobs import InferenceJob
from app.tasks.feature_extraction import Embedding, EmbeddingOptions


class EmbedAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Inputs
    truncate: bool | None = None
    truncation_direction: Literal["Right", "right"] = "Right"
    prompt_name: str | None = None

    def truncates(self, settings: Settings) -> bool:
        return settings.auto_truncate if self.truncate is None else self.truncate

    def options(self, settings: Settings) -> EmbeddingOptions:
        """Every token's vector, as the encoder gives it."""
        return EmbeddingOptions(
            normalize=False, truncate=self.truncates(settings), prompt_name=self.prompt_name, per_token=True
        )

    def job(self, settings: Settings) -> InferenceJob:
        return embedding_job(self.inputs, "inputs", self.options(settings), settings)


class EmbedRequest(EmbedAllRequest):
    normalize: bool = True
    dimensions: int | None = Field(default=None, ge=1)

    def options(self, settings: Settings) -> EmbeddingOptions:
        """One vector per input."""
        return EmbeddingOptions(self.normalize, self.truncates(settings), self.dimensions, self.prompt_name)


def encode_embeddings(embeddings: list[Embedding]) -> list[list[float]]:
    return [embedding.vector for embedding in embeddings]


def encode_token_embeddings(embeddings: list[Embedding]) -> list[list[list[float]]]:
    return [embedding.tokens or [] for embedding in embeddings]
