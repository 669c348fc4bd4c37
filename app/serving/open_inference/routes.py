"""The /v2 routes: server and model health and metadata, and `infer`, with the versioned forms.

Every model of the server by its name (MODEL_NAME for a single one, default: the checkpoint's folder
or hub name), each with one version ("1"). Health and metadata stay open like /health; `infer` needs
the API key when one is set.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from app import __version__
from app.serving.dependencies import get_model
from app.serving.guards import read_body
from app.serving.jobs import InferenceJob, data_plane_of
from app.serving.model_naming import (
    MODEL_VERSION,
    get_named_model,
    require_known_model,
    require_known_version,
)
from app.serving.open_inference.codec import HEADER_LENGTH, inflate
from app.serving.open_inference.infer_request import decode_request
from app.serving.open_inference.infer_response import infer_response
from app.serving.open_inference.wire import (
    FILL_MASK_REQUEST_EXAMPLE,
    QUESTION_ANSWERING_REQUEST_EXAMPLE,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
)
from app.serving.open_inference_core.infer_job import prepare_job
from app.serving.open_inference_core.metadata import EXTENSIONS, PLATFORM, SERVER_NAME
from app.serving.open_inference_core.model_config import model_config
from app.serving.open_inference_core.task_tensors import metadata_tensors, output_tensors
from app.serving.openapi_inline import inline_schema
from app.serving.protocol_errors import ErrorKeyRoute, error_responses
from app.tasks.checkpoint import ServedModel

BINARY = {"schema": {"type": "string", "format": "binary"}}
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON; or, with the Inference-Header-Content-Length header, that many bytes of "
        "JSON followed by the inputs' binary tensor data (application/octet-stream).",
        "content": {
            "application/json": {
                "schema": inline_schema(InferenceRequest),
                "examples": {
                    "fill-mask": {"value": FILL_MASK_REQUEST_EXAMPLE},
                    "question-answering": {"value": QUESTION_ANSWERING_REQUEST_EXAMPLE},
                },
            },
            "application/octet-stream": BINARY,
        },
    }
}


router = APIRouter(route_class=ErrorKeyRoute, tags=["v2"])


KNOWN_MODEL = [Depends(require_known_model)]
KNOWN_VERSION = [*KNOWN_MODEL, Depends(require_known_version)]


@router.get("/v2")
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)


@router.get("/v2/health/live")
async def server_live() -> ServerLive:
    return ServerLive(live=True)


@router.get("/v2/health/ready", responses=error_responses(503))
async def server_ready(_: Annotated[ServedModel, Depends(get_model)]) -> ServerReady:
    """200 once the model is loaded and warmed up; 503 before, or if it died."""
    return ServerReady(ready=True)


@router.get(
    "/v2/models/{model_name}/versions/{model_version}",
    dependencies=KNOWN_VERSION,
    responses=error_responses(404, 503),
)
@router.get("/v2/models/{model_name}", dependencies=KNOWN_MODEL, responses=error_responses(404, 503))
async def model_metadata(
    model_name: str, model: Annotated[ServedModel, Depends(get_named_model)]
) -> ModelMetadata:
    """The model's tasks' input and output tensors (see docs/clients.md)."""
    inputs, outputs = metadata_tensors(list(model.tasks))
    return ModelMetadata(
        name=model_name, versions=[MODEL_VERSION], platform=PLATFORM, inputs=inputs, outputs=outputs
    )


@router.get(
    "/v2/models/{model_name}/versions/{model_version}/config",
    dependencies=KNOWN_VERSION,
    responses=error_responses(404, 503),
)
@router.get("/v2/models/{model_name}/config", dependencies=KNOWN_MODEL, responses=error_responses(404, 503))
async def model_configuration(
    model_name: str, request: Request, model: Annotated[ServedModel, Depends(get_named_model)]
) -> dict[str, Any]:
    """Triton's model configuration: tensors, batching and instances (docs/clients.md)."""
    engine = request.app.state.serving.engine
    return model_config(model_name, model, request.app.state.settings, engine.instances, PLATFORM)


@router.get(
    "/v2/models/{model_name}/versions/{model_version}/ready",
    dependencies=KNOWN_VERSION,
    responses=error_responses(404, 503),
)
@router.get("/v2/models/{model_name}/ready", dependencies=KNOWN_MODEL, responses=error_responses(404, 503))
async def model_ready(model_name: str, _: Annotated[ServedModel, Depends(get_named_model)]) -> ModelReady:
    return ModelReady(name=model_name, ready=True)


INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "JSON, or JSON and binary outputs", "content": {"application/octet-stream": BINARY}},
    **error_responses(400, 401, 404, 413, 429, 503, 504),
}


@router.post(
    "/v2/models/{model_name}/versions/{model_version}/infer",
    dependencies=KNOWN_VERSION,
    response_model=InferenceResponse,
    responses=INFER_RESPONSES,
    openapi_extra=INFER_BODY,
)
@router.post(
    "/v2/models/{model_name}/infer",
    dependencies=KNOWN_MODEL,
    response_model=InferenceResponse,
    responses=INFER_RESPONSES,
    openapi_extra=INFER_BODY,
)
async def infer(request: Request) -> Response:
    """Each input row answered by the served task, as tensors (JSON or binary, per output)."""
    async with data_plane_of(request) as plane:
        settings = plane.settings
        body = await read_body(request, settings.max_payload_bytes)
        body = inflate(body, request.headers.get("content-encoding"), settings.max_payload_bytes)
        prepared = prepare_job(
            decode_request(body, request.headers.get(HEADER_LENGTH)), plane.model, settings
        )
        parsed = prepared.request
        job = InferenceJob(
            prepared.task,
            parsed.examples,
            parsed.options,
            logged_inputs=parsed.table.columns,
            timeout_ms=prepared.timeout_ms,
        )
        answers = await plane.run(request, job)
        header = {
            "model_name": plane.name,
            "model_version": MODEL_VERSION,
            "id": prepared.id or request.state.request_id,
            "parameters": {"task": prepared.task},
        }
        return infer_response(header, output_tensors(prepared.task, answers), prepared.outputs)


@router.api_route(
    "/v2/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def unknown_route(request: Request) -> None:
    """Under /v2 even a wrong path is answered in the protocol's shape."""
    raise HTTPException(404, f"No route {request.method} {request.url.path} in the Open Inference Protocol.")
