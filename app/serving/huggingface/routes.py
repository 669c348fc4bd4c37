"""`POST /`: the Hugging Face task API, through the same engine, auth, limits and deadlines as /score."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.serving.guards import read_json_body
from app.serving.huggingface.answers import huggingface_answers
from app.serving.huggingface.embeddings import embedding_answer
from app.serving.huggingface.requests import parse_job
from app.serving.huggingface.schemas import (
    ERROR_RESPONSES,
    REQUEST_EXAMPLES,
    HuggingFaceRequest,
    HuggingFaceResponse,
)
from app.serving.jobs import InferenceJob, data_plane_of
from app.serving.model_naming import require_known_model
from app.serving.openapi_inline import inline_schema
from app.serving.protocol_errors import ErrorKeyRoute

# Errors as {"error": ...}, as Hugging Face's Inference API answers them.
router = APIRouter(tags=["huggingface"], route_class=ErrorKeyRoute)


OPENAPI_BODY = {
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
}
ROUTE = {"response_model": HuggingFaceResponse, "responses": ERROR_RESPONSES, "openapi_extra": OPENAPI_BODY}


@router.post("/", **ROUTE)  # type: ignore[arg-type]
@router.post(
    "/models/{model_name:path}",
    dependencies=[Depends(require_known_model)],
    **ROUTE,  # type: ignore[arg-type]
)
async def hugging_face_task(request: Request) -> JSONResponse:
    """Answer `{"inputs", "parameters"}` in the task schemas of transformers' pipelines, as
    `huggingface_hub.InferenceClient(model="http://<this server>")` posts and reads them; by the named
    model on the Inference API's `/models/{name}` URL (`InferenceClient(model=".../models/<name>")`)."""
    async with data_plane_of(request) as plane:
        settings = plane.settings
        body = await read_json_body(request, settings.max_payload_bytes)
        if "feature-extraction" in plane.model.tasks:
            return JSONResponse(await embedding_answer(request, plane, body))
        parsed = parse_job(body, plane.model, settings.max_inputs_per_request, settings.max_top_k)
        job = InferenceJob(parsed.task, parsed.examples, parsed.options, logged_inputs=parsed.examples)
        answers = await plane.run(request, job)
        return JSONResponse(huggingface_answers(parsed.task, answers, parsed.single, parsed.top_k))
