"""What every inference route shares: settings, the loaded model and engine, the API key, and
running a job for a client that may leave or run out of time."""

import asyncio
import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request

from app.config import Settings
from app.engine.engine import InferenceEngine
from app.engine.predict import predict
from app.errors import ClientClosedRequestError, DeadlineExceededError, ModelNotReadyError
from app.serving.guards import check_api_key
from app.serving.lifespan import ServingState
from app.tasks.base import Task
from app.tasks.checkpoint import ServedModel

DISCONNECT_POLL_S = 0.25

# Every dependency is `async def`: FastAPI runs a plain `def` one in its thread pool, a thread
# hop per dependency per request that costs more than the dependency itself.


async def get_serving_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def require_api_key(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    check_api_key(request.headers.get("authorization"), settings.api_key)


async def get_engine(serving: Annotated[ServingState, Depends(get_serving_state)]) -> InferenceEngine:
    if serving.engine is None or not serving.ready:
        raise ModelNotReadyError(serving.not_ready_reason())
    return serving.engine


async def get_model(serving: Annotated[ServingState, Depends(get_serving_state)]) -> ServedModel:
    if serving.model is None or not serving.ready:
        raise ModelNotReadyError(serving.not_ready_reason())
    return serving.model


async def predict_for_client(
    request: Request,
    engine: InferenceEngine,
    task: Task[Any],
    examples: Sequence[Any],
    options: Any,
    timeout_ms: int,
) -> list[Any]:
    """Each example's answer from `task`, but given up at the deadline or when the client goes away."""
    deadline = time.monotonic() + timeout_ms / 1000
    job = asyncio.ensure_future(predict(engine, task, examples, options, deadline=deadline))
    while not job.done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            job.cancel()
            raise DeadlineExceededError(f"No answer within the request timeout of {timeout_ms} ms.")
        await asyncio.wait({job}, timeout=min(remaining, DISCONNECT_POLL_S))
        if not job.done() and await request.is_disconnected():
            job.cancel()
            raise ClientClosedRequestError("The client closed the connection before the answer.")
    return job.result()
