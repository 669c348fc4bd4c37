"""Triton's model-repository extension of the Open Inference Protocol: the index of the models and
their states, and loading and unloading one by name while the others serve (with MODEL_CONTROL=explicit,
behind the API key).

An unload refuses the model's new requests and answers once those in flight are answered; a load
that fails answers 400 with the reason, which the index keeps. A load that brings a configuration or
files (Triton's `config`, `file:` parameters) answers 400: they would not be honoured.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from app.errors import InvalidRequestError, UnsupportedMediaTypeError, public_text
from app.repository.entries import ModelState
from app.repository.repository import ModelRepository
from app.serving.dependencies import get_repository
from app.serving.guards import read_json_body
from app.serving.model_control import check_model_control, load_refusal
from app.serving.protocol_errors import ErrorKeyRoute, error_responses
from app.serving.validation import parse_body

router = APIRouter(
    prefix="/v2/repository",
    tags=["v2"],
    route_class=ErrorKeyRoute,
)
Repository = Annotated[ModelRepository, Depends(get_repository)]


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready: bool = False  # only the models ready to serve


class LoadRequest(BaseModel):
    """Triton's load body: `parameters` may carry a `config` (a model configuration in JSON) and
    `file:<path>` contents (a model's files). This server loads what its model folders hold, so a
    load that brings either is refused rather than done without them."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = {}

    def refusal(self) -> str | None:
        return load_refusal(self.parameters)


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
    expose_details = request.app.state.settings.expose_details
    return [
        IndexEntry(
            name=entry.spec.name, state=entry.state.value, reason=public_text(entry.reason, expose_details)
        )
        for entry in repository.entries.values()
        if not wanted.ready or entry.state is ModelState.READY
    ]


async def require_model_control(request: Request) -> None:
    """Loading and unloading change what the server serves: off unless MODEL_CONTROL=explicit (which
    needs API_KEY, checked before routing), and from no body or a JSON one, never one a web page can
    send across sites (a form, text/plain)."""
    check_model_control(request.app.state.settings)
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.partition(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaTypeError(
            f"A model-control request's body must be application/json; got '{content_type}'."
        )


MODEL_CONTROL = [Depends(require_model_control)]


@router.post(
    "/models/{model_name}/load",
    dependencies=MODEL_CONTROL,
    responses=error_responses(400, 401, 403, 404, 415, 503),
    openapi_extra=optional_body_example({}),
)
async def load(model_name: str, request: Request, repository: Repository) -> dict[str, Any]:
    wanted: LoadRequest = await optional_body(request, LoadRequest)
    if (refusal := wanted.refusal()) is not None:
        raise InvalidRequestError(refusal)
    entry = await repository.load(model_name)
    if entry.state is not ModelState.READY:
        raise InvalidRequestError(f"failed to load '{model_name}': {entry.reason}")
    return {}


@router.post(
    "/models/{model_name}/unload",
    dependencies=MODEL_CONTROL,
    responses=error_responses(401, 403, 404, 415, 503),
    openapi_extra=optional_body_example({}),
)
async def unload(model_name: str, repository: Repository) -> dict[str, Any]:
    """Answers once the model's requests in flight are answered and its weights let go."""
    await repository.unload(model_name)
    return {}
