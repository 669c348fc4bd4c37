"""TEI's embedding routes on the job pipeline: `POST /embed`, `POST /embed_all`, `GET /info`."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app import __version__
from app.serving.dependencies import require_api_key
from app.serving.guards import read_json_body
from app.serving.jobs import DataPlane, get_data_plane
from app.serving.protocol_errors import ErrorKeyRoute, error_responses
from app.serving.tei.codec import (
    EmbedAllRequest,
    EmbedRequest,
    encode_embeddings,
    encode_token_embeddings,
)
from app.serving.validation import parse_body
from app.tasks.feature_extraction import FeatureExtractionTask

router = APIRouter(tags=["text-embeddings-inference"], route_class=ErrorKeyRoute)
ERRORS = error_responses(400, 401, 413, 429, 503, 504)


def _body(model: type[Any], example: dict[str, Any]) -> dict[str, Any]:
    content = {"schema": model.model_json_schema(), "example": example}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


@router.post(
    "/embed",
    dependencies=[Depends(require_api_key)],
    responses=ERRORS,
    openapi_extra=_body(EmbedRequest, {"inputs": ["What is Deep Learning?"], "normalize": True}),
)
async def embed(request: Request, plane: Annotated[DataPlane, Depends(get_data_plane)]) -> JSONResponse:
    """One vector per input, normalized unless `normalize` is false."""
    body = parse_body(EmbedRequest, await read_json_body(request, plane.settings.max_payload_bytes))
    return JSONResponse(encode_embeddings(await plane.run(request, body.job(plane.settings))))


@router.post(
    "/embed_all",
    dependencies=[Depends(require_api_key)],
    responses=ERRORS,
    openapi_extra=_body(EmbedAllRequest, {"inputs": "What is Deep Learning?"}),
)
async def embed_all(request: Request, plane: Annotated[DataPlane, Depends(get_data_plane)]) -> JSONResponse:
    """Every token's vector (special tokens included), per input."""
    body = parse_body(EmbedAllRequest, await read_json_body(request, plane.settings.max_payload_bytes))
    return JSONResponse(encode_token_embeddings(await plane.run(request, body.job(plane.settings))))


@router.get("/info", responses=error_responses(503))
async def info(plane: Annotated[DataPlane, Depends(get_data_plane)]) -> dict[str, Any]:
    """TEI's model info, with the fields that mean something here."""
    task = plane.model.tasks.get("feature-extraction")
    if isinstance(task, FeatureExtractionTask):
        model_type: dict[str, Any] = {"embedding": {"pooling": task.config.pooling}}
        max_input_length: int | None = task.max_tokens
    else:
        model_type, max_input_length = {"other": {"tasks": list(plane.model.tasks)}}, None
    described: dict[str, Any] = {
        "model_id": plane.model.source,
        "model_dtype": plane.model.precision,
        "model_type": model_type,
        "max_concurrent_requests": plane.settings.max_concurrent_requests,
        "max_input_length": max_input_length,
        "max_batch_tokens": plane.settings.max_batch_tokens,
        "max_client_batch_size": plane.settings.max_inputs_per_request,
        "auto_truncate": plane.settings.auto_truncate,
        "version": __version__,
    }
    return described
