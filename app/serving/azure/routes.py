"""`POST /score`: Azure ML's contract, decoded into a job for the data plane, answered per task."""

from fastapi import APIRouter, Request

from app.serving.azure.answers import shape_answers
from app.serving.azure.contract import parse_request_table
from app.serving.azure.schemas import INFERENCE_ERROR_RESPONSES, SAMPLE_REQUEST, ScoreResponse
from app.serving.guards import read_json_body
from app.serving.jobs import InferenceJob, data_plane_of
from app.serving.responses import AzureJSONResponse
from app.serving.task_columns import choose_task, parse_task_request

router = APIRouter(tags=["azure"])


@router.post(
    "/score",
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
async def score(request: Request) -> AzureJSONResponse:
    """Answer each input with the served task, as Azure ML's endpoints for that task do."""
    async with data_plane_of(request) as plane:
        settings, model = plane.settings, plane.model
        body = await read_json_body(request, settings.max_payload_bytes)
        table = parse_request_table(body, settings.max_inputs_per_request)
        task = choose_task(table, list(model.tasks), list(model.unavailable))
        parsed = parse_task_request(table, task, settings.max_top_k)
        job = InferenceJob(task, parsed.examples, parsed.options, logged_inputs=table.columns)
        return AzureJSONResponse(shape_answers(parsed, await plane.run(request, job)))
