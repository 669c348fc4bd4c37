"""The /v1 routes: the model list, a model's readiness, and `:predict` (behind the API key).

`GET /v1/models` and `/v1/models/<name>` are OpenAI's paths too, so they answer in the shape both
clients read (app.serving.model_listing), also under KServe's OpenAI prefix, `/openai/v1/models`."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from app.repository.entries import ModelState
from app.repository.repository import ModelRepository
from app.serving.dependencies import get_repository
from app.serving.guards import read_json_body
from app.serving.jobs import data_plane_of
from app.serving.kserve_v1.codec import PREDICT_EXAMPLE, decode_predict, encode_predictions
from app.serving.model_listing import model_list, ready_model
from app.serving.protocol_errors import ErrorKeyRoute, error_responses

router = APIRouter(tags=["v1"], route_class=ErrorKeyRoute)
PREDICT_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"example": PREDICT_EXAMPLE}}}
}


async def require_served_name(
    model_name: str, repository: Annotated[ModelRepository, Depends(get_repository)]
) -> None:
    if model_name not in repository.entries:  # KServe's own message
        raise HTTPException(404, f"Model with name {model_name} does not exist.")


async def models(repository: Annotated[ModelRepository, Depends(get_repository)]) -> dict[str, Any]:
    return model_list(list(repository.entries))


async def model_ready(
    model_name: str, repository: Annotated[ModelRepository, Depends(get_repository)]
) -> dict[str, Any]:
    if repository.entries[model_name].state is not ModelState.READY:
        raise HTTPException(503, f"Model with name {model_name} is not ready.")
    return ready_model(model_name)


for prefix in ("", "/openai"):
    router.add_api_route(f"{prefix}/v1/models", models, methods=["GET"])
    router.add_api_route(
        f"{prefix}/v1/models/{{model_name}}",
        model_ready,
        methods=["GET"],
        dependencies=[Depends(require_served_name)],
        responses=error_responses(404, 503),
    )


@router.post(
    "/v1/models/{model_name}:predict",
    dependencies=[Depends(require_served_name)],
    openapi_extra=PREDICT_BODY,
    responses=error_responses(400, 401, 404, 413, 429, 503, 504),
)
async def predict(request: Request) -> JSONResponse:
    """`{"instances": [...]}` answered `{"predictions": [...]}`, one per instance."""
    async with data_plane_of(request) as plane:
        body = await read_json_body(request, plane.settings.max_payload_bytes)
        job = decode_predict(body, plane.model, plane.settings)
        return JSONResponse(encode_predictions(job.task, await plane.run(request, job)))
