"""Thin routes: check, parse the body, hand it to the engine, shape the answer."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.serving.answers import shape_answers
from app.serving.contract import parse_request_table
from app.serving.dependencies import (
    get_serving_state,
    require_api_key,
)
from app.serving.guards import read_json_body
from app.serving.jobs import DataPlane, InferenceJob, get_data_plane
from app.serving.lifespan import ServingState
from app.serving.metrics import ServiceMetrics
from app.serving.schemas import INFERENCE_ERROR_RESPONSES, SAMPLE_REQUEST, ErrorResponse, ScoreResponse
from app.serving.task_requests import choose_task, options_for, parse_task_request

router = APIRouter()


class AzureJSONResponse(JSONResponse):
    """json.dumps with its default separators, as Azure's scorer answers: byte-identical bodies."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode("utf-8")


@router.get("/", response_class=PlainTextResponse, tags=["health"])
async def root_liveness() -> str:
    """Azure's liveness convention: 200 `Healthy` while the process runs."""
    return "Healthy"


@router.get("/health/live", tags=["health"])
async def liveness() -> dict[str, str]:
    return {"status": "live"}


@router.get("/health/ready", tags=["health"], responses={503: {"model": ErrorResponse}})
async def readiness(serving: Annotated[ServingState, Depends(get_serving_state)]) -> JSONResponse:
    """200 once the model is loaded and a warm-up prediction has run; 503 before, or if it died."""
    if serving.model is None or not serving.ready:
        return AzureJSONResponse({"message": serving.not_ready_reason()}, status_code=503)
    return AzureJSONResponse({"status": "ready", **serving.model.describe()})


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    service_metrics: ServiceMetrics = request.app.state.metrics
    return Response(service_metrics.render(), media_type=service_metrics.content_type)


@router.post(
    "/score",
    tags=["azure"],
    dependencies=[Depends(require_api_key)],
    response_model=ScoreResponse,
    responses=INFERENCE_ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ScoreRequest"},
                    "example": SAMPLE_REQUEST,
                }
            },
        }
    },
)
async def score(
    request: Request,
    plane: Annotated[DataPlane, Depends(get_data_plane)],
) -> AzureJSONResponse:
    """Answer each input with the served task, as Azure ML's endpoints for that task do."""
    settings, model = plane.settings, plane.model
    body = await read_json_body(request, settings.max_payload_bytes)
    table = parse_request_table(body, settings.max_inputs_per_request)
    task = choose_task(table, list(model.tasks), list(model.unavailable))
    parsed = parse_task_request(table, task, settings.max_top_k)
    job = InferenceJob(task, parsed.examples, options_for(parsed), logged_inputs=table.columns)
    return AzureJSONResponse(shape_answers(parsed, await plane.run(request, job)))
