"""OpenAI's embeddings request to an `InferenceJob`, and the embeddings back to its list object.

`input` is a string, a list of strings, a list of token ids or a list of those; `encoding_format`
`float` or `base64` (the vector's float32 bytes, little-endian, base64-encoded, as OpenAI's client
decodes them); `dimensions` keeps the first dimensions, renormalized. The vectors are as the
model's config has them (a sentence-transformers model with Normalize: unit length). Errors are
OpenAI's `{"error": {"message", "type", "param", "code"}}`.
"""

import base64
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.config import Settings
from app.serving.embedding_inputs import Inputs, embedding_job
from app.serving.jobs import InferenceJob
from app.tasks.feature_extraction import Embedding, EmbeddingOptions

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Inputs
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


def embeddings_job(request: EmbeddingsRequest, settings: Settings) -> InferenceJob:
    options = EmbeddingOptions(dimensions=request.dimensions)  # truncated as AUTO_TRUNCATE says
    return embedding_job(request.input, "input", options, settings)


def encode_list(embeddings: list[Embedding], encoding_format: str, model_name: str) -> dict[str, Any]:
    tokens = sum(embedding.token_count for embedding in embeddings)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": _encoded(embedding.vector, encoding_format), "index": index}
            for index, embedding in enumerate(embeddings)
        ],
        "model": model_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return vector


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = "model_not_found" if status == 404 else None  # OpenAI's code for a model it does not serve
    return {"error": {"message": message, "type": kind, "param": "model" if code else None, "code": code}}
