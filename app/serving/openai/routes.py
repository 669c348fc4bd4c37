"""`POST /v1/embeddings` (and KServe's `/openai/v1/embeddings`), as OpenAI's client calls it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.config import Settings
from app.serving.dependencies import get_settings
from app.serving.guards import read_json_body
from app.serving.jobs import data_plane
from app.serving.openai.codec import EmbeddingsRequest, embeddings_job, encode_list, openai_error
from app.serving.openapi_inline import json_request_body
from app.serving.validation import parse_body


class OpenAIRoute(APIRoute):
    """Errors in OpenAI's shape (app.errors reads `error_body` from the matched route)."""

    error_body = staticmethod(openai_error)


router = APIRouter(tags=["openai"], route_class=OpenAIRoute)
BODY = json_request_body(EmbeddingsRequest, {"input": ["What is Deep Learning?"], "model": "bert-base-cased"})


async def embeddings(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> JSONResponse:
    """`{"object": "list", "data": [{"object": "embedding", "embedding", "index"}], "model", "usage"}`.

    `model` names the server's model; on a server of one model, any name reaches it (OpenAI's
    clients must send one, and often send a fixed one)."""
    body = parse_body(EmbeddingsRequest, await read_json_body(request, settings.max_payload_bytes))
    repository = request.app.state.serving.serving_repository()
    name = body.model if body.model in repository.entries or len(repository.entries) > 1 else None
    async with data_plane(request, name) as plane:
        answers = await plane.run(request, embeddings_job(body, plane.settings))
    return JSONResponse(encode_list(answers, body.encoding_format, body.model or plane.name))


for path in ("/v1/embeddings", "/openai/v1/embeddings"):
    router.add_api_route(path, embeddings, methods=["POST"], openapi_extra=BODY)
