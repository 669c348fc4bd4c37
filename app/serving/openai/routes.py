"""`POST /v1/embeddings` (and KServe's `/openai/v1/embeddings`), as OpenAI's client calls it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.serving.dependencies import require_api_key
from app.serving.guards import read_json_body
from app.serving.jobs import DataPlane, get_data_plane
from app.serving.model_naming import get_model_name
from app.serving.openai.codec import EmbeddingsRequest, embeddings_job, encode_list, openai_error
from app.serving.openapi_inline import json_request_body
from app.serving.validation import parse_body


class OpenAIRoute(APIRoute):
    """Errors in OpenAI's shape (app.errors reads `error_body` from the matched route)."""

    error_body = staticmethod(openai_error)


router = APIRouter(tags=["openai"], route_class=OpenAIRoute)
BODY = json_request_body(EmbeddingsRequest, {"input": ["What is Deep Learning?"], "model": "bert-base-cased"})


async def embeddings(
    request: Request,
    plane: Annotated[DataPlane, Depends(get_data_plane)],
    model_name: Annotated[str, Depends(get_model_name)],
) -> JSONResponse:
    """`{"object": "list", "data": [{"object": "embedding", "embedding", "index"}], "model", "usage"}`."""
    body = parse_body(EmbeddingsRequest, await read_json_body(request, plane.settings.max_payload_bytes))
    answers = await plane.run(request, embeddings_job(body, plane.settings))
    return JSONResponse(encode_list(answers, body.encoding_format, body.model or model_name))


for path in ("/v1/embeddings", "/openai/v1/embeddings"):
    router.add_api_route(
        path, embeddings, methods=["POST"], dependencies=[Depends(require_api_key)], openapi_extra=BODY
    )
