"""Thin routes: check, parse the body, hand it to the engine, shape the answer."""

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.config import Settings
from app.engine.engine import InferenceEngine
from app.engine.predict import predict
from app.errors import ClientClosedRequestError, DeadlineExceededError, ModelNotReadyError
from app.serving.answers import shape_answers
from app.serving.contract import parse_request_table
from app.serving.guards import AdmissionControl, check_api_key, read_json_body
from app.serving.lifespan import ServingState
from app.serving.metrics import ServiceMetrics
from app.serving.schemas import SAMPLE_REQUEST, ErrorResponse, ScoreResponse
from app.serving.task_requests import TaskRequest, choose_task, options_for, parse_task_request
from app.tasks.checkpoint import ServedModel

router = APIRouter()

DISCONNECT_POLL_S = 0.25


class AzureJSONResponse(JSONResponse):
    """json.dumps with its default separators, as Azure's scorer answers: byte-identical bodies."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode("utf-8")


def get_serving_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_api_key(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    check_api_key(request.headers.get("authorization"), settings.api_key)


def get_engine(serving: Annotated[ServingState, Depends(get_serving_state)]) -> InferenceEngine:
    if serving.engine is None or not serving.ready:
        raise ModelNotReadyError(serving.not_ready_reason())
    return serving.engine


def get_model(serving: Annotated[ServingState, Depends(get_serving_state)]) -> ServedModel:
    if serving.model is None or not serving.ready:
        raise ModelNotReadyError(serving.not_ready_reason())
    return serving.model


def get_admission(request: Request) -> AdmissionControl:
    admission: AdmissionControl = request.app.state.admission
    return admission


async def predict_for_client(
    request: Request, engine: InferenceEngine, model: ServedModel, job: TaskRequest, timeout_ms: int
) -> list[Any]:
    """Run the job, but give up on it at its deadline or when its client goes away."""
    deadline = time.monotonic() + timeout_ms / 1000
    task = asyncio.ensure_future(
        predict(engine, model.task(job.task), job.examples, options_for(job), deadline=deadline)
    )
    while not task.done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            task.cancel()
            raise DeadlineExceededError(f"No answer within the request timeout of {timeout_ms} ms.")
        await asyncio.wait({task}, timeout=min(remaining, DISCONNECT_POLL_S))
        if not task.done() and await request.is_disconnected():
            task.cancel()
            raise ClientClosedRequestError("The client closed the connection before the answer.")
    return task.result()


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
    tags=["score"],
    dependencies=[Depends(require_api_key)],
    response_model=ScoreResponse,
    responses={code: {"model": ErrorResponse} for code in (400, 401, 413, 429, 503, 504)},
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
    engine: Annotated[InferenceEngine, Depends(get_engine)],
    model: Annotated[ServedModel, Depends(get_model)],
    settings: Annotated[Settings, Depends(get_settings)],
    admission: Annotated[AdmissionControl, Depends(get_admission)],
) -> AzureJSONResponse:
    """Answer each input with the served task, as Azure ML's endpoints for that task do."""
    with admission.admit():
        body = await read_json_body(request, settings.max_payload_bytes)
        table = parse_request_table(body, settings.max_inputs_per_request)
        task = choose_task(table, list(model.tasks), list(model.unavailable))
        job = parse_task_request(table, task, settings.max_top_k)
        request.state.log_fields = {"task": task, "inputs": len(job.examples)} | (
            {"texts": table.columns} if settings.log_inputs else {}
        )
        answers = await predict_for_client(request, engine, model, job, settings.request_timeout_ms)
    return AzureJSONResponse(shape_answers(job, answers))
