"""create_app(settings): the one place that wires settings, model loading and routes together."""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.api import router
from app.config import Settings, get_settings
from app.errors import register_exception_handlers
from app.model_source import resolve_model_source
from app.schemas import ScoreRequest
from app.serving import ModelLoader, ServingState, batch_limits_for, load_and_warm_up, model_loader_for

logger = logging.getLogger(__name__)


def stop_this_process() -> None:
    """Ask the server to shut down as if by SIGTERM (uvicorn drains, then exits)."""
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(
    settings: Settings | None = None,
    *,
    load_model: ModelLoader | None = None,
    on_load_failure: Callable[[], None] = stop_this_process,
) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state: ServingState = app.state.serving
        loader = load_model or model_loader_for(settings)
        loading = asyncio.create_task(load_and_warm_up(state, loader, batch_limits_for(settings)))
        loading.add_done_callback(lambda _: _report_load_failure(state, on_load_failure))
        yield
        loading.cancel()
        if state.engine is not None:
            await state.engine.close()

    app = FastAPI(
        title="BERT fill-mask server",
        version=__version__,
        description="Azure ML's bert-base-cased /score contract, served from a model loaded once.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.serving = ServingState(source=resolve_model_source(settings))
    app.include_router(router)
    register_exception_handlers(app)
    app.openapi = lambda: _openapi_with_request_schema(app)  # type: ignore[method-assign]
    app.add_api_route("/swagger.json", app.openapi, include_in_schema=False)
    return app


def _report_load_failure(state: ServingState, on_load_failure: Callable[[], None]) -> None:
    if state.load_error is not None:
        logger.error("%s", state.load_error)
        on_load_failure()


def _openapi_with_request_schema(app: FastAPI) -> dict[str, Any]:
    """/score parses its body itself (for precise errors), so its schema is added here."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        request_schema = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request_schema.pop("$defs", {}))
        components["ScoreRequest"] = request_schema
        app.openapi_schema = schema
    return app.openapi_schema
