"""What every inference route shares: settings, the models (the API key is checked before routing,
in `app.serving.admission`)."""

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.errors import ModelNotReadyError
from app.repository.repository import ModelRepository
from app.serving.lifespan import ServingState
from app.tasks.checkpoint import ServedModel

# Every dependency is `async def`: FastAPI runs a plain `def` one in its thread pool, a thread
# hop per dependency per request that costs more than the dependency itself. The inference
# routes' dependencies read the app's state themselves rather than depend on one another: FastAPI
# resolves each dependency of a tree anew per request; the tree of seven under /score cost about
# 100 µs of event-loop CPU per request more than these two (2-core AMD EPYC).


async def get_serving_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_repository(serving: Annotated[ServingState, Depends(get_serving_state)]) -> ModelRepository:
    return serving.serving_repository()


async def get_model(serving: Annotated[ServingState, Depends(get_serving_state)]) -> ServedModel:
    """The default model, once the server is ready."""
    if not serving.ready or serving.repository is None or serving.repository.default.served is None:
        raise ModelNotReadyError(serving.not_ready_reason())
    return serving.repository.default.served
