"""Triton's model-repository extension of the Open Inference Protocol: the index of the models and
their states, and loading and unloading one by name while the others serve (behind the API key).

An unload refuses the model's new requests and answers once those in flight are answered; a load
that fails answers 400 with the reason, which the index keeps.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from app.errors import InvalidRequestError
from app.repository.repository import ModelRepository, ModelState
from app.serving.dependencies import get_repository, require_api_key
from app.serving.guards import read_json_body
from app.serving.protocol_errors import ErrorKeyRoute, error_responses
from app.serving.validation import parse_body

router = APIRouter(
    prefix="/v2/repository",
    tags=["v2"],
    route_class=ErrorKeyRoute,
    dependencies=[Depends(require_api_key)],
)
Repository = Annotated[ModelRepository, Depends(get_repository)]


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready: bool = False  # only the models ready to serve


class IndexEntry(BaseModel):
    name: str
    version: str = "1"
    state: str
    reason: str = ""


def optional_body_example(example: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": False, "content": {"application/json": {"example": example}}}}


async def optional_body(request: Request, model: type[BaseModel]) -> Any:
    body = await request.body()
    if not body.strip():
        return model()
    return parse_body(model, await read_json_body(request, 64_000))


@router.post(
    "/index", responses=error_responses(401, 503), openapi_extra=optional_body_example({"ready": True})
)
async def index(request: Request, repository: Repository) -> list[IndexEntry]:
    """Every model with its state (READY, LOADING, UNLOADING, UNAVAILABLE) and why it is not ready."""
    wanted: IndexRequest = await optional_body(request, IndexRequest)
    return [
        IndexEntry(name=entry.spec.name, state=entry.state.value, reason=entry.reason)
        for entry in repository.entries.values()
        if not wanted.ready or entry.state is ModelState.READY
    ]


@router.post(
    "/models/{model_name}/load",
    responses=error_responses(400, 401, 404, 503),
    openapi_extra=optional_body_example({}),
)
async def load(model_name: str, repository: Repository) -> dict[str, Any]:
    entry = await repository.load(model_name)
    if entry.state is not ModelState.READY:
        raise InvalidRequestError(f"failed to load '{model_name}': {entry.reason}")
    return {}


@router.post(
    "/models/{model_name}/unload",
    responses=error_responses(401, 404, 503),
    openapi_extra=optional_body_example({}),
)
async def unload(model_name: str, repository: Repository) -> dict[str, Any]:
    """Answers once the model's requests in flight are answered and its weights let go."""
    await repository.unload(model_name)
    return {}
