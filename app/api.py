"""Thin routes: parse the body, hand it to the engine, shape the answer."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from app.config import Settings
from app.contract import parse_score_request, shape_response
from app.engine import InferenceEngine
from app.errors import InvalidRequestError, ModelNotReadyError
from app.schemas import SAMPLE_REQUEST, ErrorResponse, ScoreResponse
from app.serving import ServingState

router = APIRouter()


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


def get_engine(serving: Annotated[ServingState, Depends(get_serving_state)]) -> InferenceEngine:
    if serving.engine is None or not serving.ready:
        raise ModelNotReadyError(serving.not_ready_reason())
    return serving.engine


async def read_json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"The body is not valid JSON: {exc}") from exc


@router.get("/", response_class=PlainTextResponse, tags=["health"])
async def root_liveness() -> str:
    """Azure's liveness convention: 200 `Healthy` while the process runs."""
    return "Healthy"


@router.get("/health/live", tags=["health"])
async def liveness() -> dict[str, str]:
    return {"status": "live"}


@router.get("/health/ready", tags=["health"], responses={503: {"model": ErrorResponse}})
async def readiness(serving: Annotated[ServingState, Depends(get_serving_state)]) -> JSONResponse:
    """200 once the model is loaded and a warm-up prediction has run; 503 before."""
    if serving.engine is None or not serving.ready:
        return AzureJSONResponse({"message": serving.not_ready_reason()}, status_code=503)
    return AzureJSONResponse({"status": "ready", "model": serving.engine.model.source})


@router.post(
    "/score",
    tags=["score"],
    response_model=ScoreResponse,
    responses={400: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
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
    settings: Annotated[Settings, Depends(get_settings)],
) -> AzureJSONResponse:
    """Fill the masks of each input, answering as Azure ML's bert-base-cased endpoint does."""
    job = parse_score_request(await read_json_body(request), settings.max_top_k)
    predictions = await engine.predict(job.inputs, job.top_k or 1)
    return AzureJSONResponse(shape_response(job, predictions))
