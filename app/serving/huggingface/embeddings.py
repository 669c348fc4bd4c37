"""`POST /` on an embedding model: Hugging Face's feature-extraction and sentence-similarity tasks.

Their bodies are TEI's (the task specs took them over; `InferenceClient` sends feature-extraction's
parameters at the root): `{"inputs": text or texts, "normalize", "truncate", "prompt_name",
"dimensions"}` answers one vector per input, `{"inputs": {"source_sentence", "sentences"}}` the
cosine of the source to each sentence.
"""

from typing import Any

from fastapi import Request

from app.serving.embedding_inputs import EmbedRequest, SimilarityRequest
from app.serving.jobs import DataPlane
from app.serving.validation import parse_body
from app.tasks.feature_extraction import similarity_scores


async def embedding_answer(request: Request, plane: DataPlane, body: object) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("inputs"), dict):
        similarity = parse_body(SimilarityRequest, body)
        return similarity_scores(await plane.run(request, similarity.job(plane.settings)))
    embed = parse_body(EmbedRequest, body)
    return [embedding.vector for embedding in await plane.run(request, embed.job(plane.settings))]
