"""`POST /`: the Hugging Face task API, through the same engine, auth, limits and deadlines as /score."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.config import Settings
from app.engine.engine import InferenceEngine
from app.serving.dependencies import get_engine, get_model, get_settings, predict_for_client, require_api_key
from app.serving.guards import read_json_body
from app.serving.huggingface.answers import huggingface_answers
from app.serving.huggingface.requests import parse_job
from app.serving.huggingface.schemas import (
    ERROR_RESPONSES,
    REQUEST_EXAMPLES,
    HuggingFaceRequest,
    HuggingFaceResponse,
)
from app.serving.openapi_inline import inline_schema
from app.serving.protocol_errors import ErrorKeyRoute
from app.tasks.checkpoint import ServedModel

# Errors as {"error": ...}, as Hugging Face's Inference API answers them.
router = APIRouter(tags=["huggingface"], route_class=ErrorKeyRoute)


@router.post(
    "/",
    dependencies=[Depends(require_api_key)],
    response_model=HuggingFaceResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": inline_schema(HuggingFaceRequest),
                    "examples": {
                        name: {"summary": name, "value": body} for name, body in REQUEST_EXAMPLES.items()
                    },
                }
            },
        }
    },
)
async def hugging_face_task(
    request: Request,
    engine: Annotated[InferenceEngine, Depends(get_engine)],
    model: Annotated[ServedModel, Depends(get_model)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JSONResponse:
    """Answer `{"inputs", "parameters"}` in the task schemas of transformers' pipelines, as
    `huggingface_hub.InferenceClient(model="http://<this server>")` posts and reads them."""
    body = await read_json_body(request, settings.max_payload_bytes)
    job = parse_job(body, model, settings.max_inputs_per_request, settings.max_top_k)
    request.state.log_fields = {"task": job.task_name, "inputs": len(job.examples)} | (
        {"texts": job.examples} if settings.log_inputs else {}
    )
    answers = await predict_for_client(
        request, engine, job.task, job.examples, job.options, settings.request_timeout_ms
    )
    return JSONResponse(huggingface_answers(job.task_name, answers, job.single, job.top_k))
