"""create_app(settings): the one place that wires settings, model loading, engine and routes."""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.config import Settings, get_settings
from app.engine.engine import InferenceEngine
from app.errors import ModelLoadError, exception_text, register_exception_handlers
from app.repository.repository import ModelLoader, ModelRepository
from app.repository.specs import model_specs
from app.runtime import intra_op_threads
from app.serving.admission import AdmissionControl, AdmissionMiddleware
from app.serving.azure.routes import router as azure_router
from app.serving.azure.schemas import ScoreRequest
from app.serving.body_receiver import BodyLimits
from app.serving.docs_routes import router as docs_router
from app.serving.grpc_service.server import GrpcPortError, GrpcServer
from app.serving.health_routes import router as health_router
from app.serving.huggingface.routes import router as huggingface_router
from app.serving.inference_lane import InferenceLane
from app.serving.kserve_v1.routes import router as kserve_v1_router
from app.serving.lifespan import (
    ServingState,
    batch_limits_for,
    engine_instances_for,
    instances_for,
    load_models,
    model_loader_for,
    warm_up,
)
from app.serving.metrics import GAUGE_REFRESH_S, ServiceMetrics
from app.serving.observability import RequestContextMiddleware
from app.serving.open_inference.repository_routes import router as repository_router
from app.serving.open_inference.routes import router as open_inference_router
from app.serving.open_inference.statistics_routes import router as statistics_router
from app.serving.openai.routes import router as openai_router
from app.serving.playground_routes import router as playground_router
from app.serving.tei.routes import router as tei_router
from app.serving.tracing import RequestTracer, tracing_from_environment
from app.workers.engine_client import EngineClient, RemoteEngine
from app.workers.mirror import MirrorRepository

logger = logging.getLogger(__name__)


def stop_this_process() -> None:
    """Ask the server to shut down as if by SIGTERM (uvicorn drains, then exits)."""
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(
    settings: Settings | None = None,
    *,
    load_model: ModelLoader | None = None,
    on_fatal: Callable[[], None] = stop_this_process,
    engine_address: str | None = None,
    tracer: RequestTracer | None = None,
) -> FastAPI:
    """`on_fatal` is called when the model cannot load or the inference worker dies: the
    process must then stop (and exit non-zero), never hang half-alive. `engine_address`: this app
    is a front-end (WORKERS=N, `app.workers`); its models and their batches live in the engine
    process there. `tracer`: where spans go; by default, where the OTEL_* (or Azure Monitor's)
    variables say, and none without them (`app.serving.tracing`)."""
    settings = settings or get_settings()
    tracer = tracer or tracing_from_environment()
    metrics = ServiceMetrics()
    admission = AdmissionControl(
        settings.max_concurrent_requests, settings.max_refusals_per_s, settings.max_pending_bodies
    )

    def fail(reason: str) -> None:
        logger.error("%s", reason)
        on_fatal()

    def model_of(task: Any) -> str:
        return state.repository.name_of(task) if state.repository is not None else "?"

    engine: InferenceEngine
    total_threads = intra_op_threads(settings.torch_threads)
    if engine_address is None:
        engine = InferenceEngine(
            batch_limits_for(settings),
            instances=engine_instances_for(settings, total_threads),
            on_batch=lambda task, *batch: metrics.observe_batch(model_of(task), *batch),
            on_failure=lambda exc: fail(f"The inference worker died: {exc!r}"),
        )
    else:
        engine = RemoteEngine(EngineClient(engine_address), batch_limits_for(settings), model_of)
    state = ServingState(repository=None, engine=engine)
    if settings.instances == "auto" and engine_address is None:
        state.choose_instances = lambda served: instances_for(served, total_threads)
    repository_options: dict[str, Any] = {
        "default_model": settings.default_model,
        "max_loaded_models": settings.max_loaded_models,
        "max_requests_per_model": settings.max_requests_per_model,
        "folder": settings.model_repository,
    }
    try:
        if isinstance(engine, RemoteEngine):
            state.repository = MirrorRepository(model_specs(settings), engine, **repository_options)
        else:
            state.repository = ModelRepository(
                model_specs(settings),
                engine,
                load_model or model_loader_for(settings),
                warm_up,
                **repository_options,
            )
    except ModelLoadError as exc:  # the list of models itself is wrong: nothing to serve
        state.load_error = exc.message

    def finish_loading(loading: "asyncio.Task[float]") -> None:
        if loading.cancelled():
            return
        failure = loading.exception()
        if failure is not None:  # a front-end whose engine process has gone
            fail(f"Loading stopped: {exception_text(failure)}")
            return
        if state.load_error is not None:  # each model's reason is logged already, as it failed
            fail("No model could be loaded; the server stops.")
        elif not isinstance(engine, RemoteEngine):  # the engine process's time, not a wait for it
            metrics.model_load_seconds.set(loading.result())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.load_error is not None:
            fail(state.load_error)
            yield
            return
        grpc_server = None
        if settings.grpc_port is not None:  # bound before any model loads: a port in use fails fast
            grpc_server = GrpcServer(app.state, reuse_port=engine_address is not None)
            try:
                await grpc_server.start()
            except GrpcPortError as exc:
                state.load_error = exc.message
                fail(exc.message)
                yield
                return
        loading = asyncio.create_task(load_models(state))
        loading.add_done_callback(finish_loading)
        background = [asyncio.create_task(coroutine) for coroutine in background_work()]
        yield
        if grpc_server is not None:
            await grpc_server.stop(settings.drain_timeout_s)
        if tracer is not None:
            tracer.shutdown()
        loading.cancel()
        for work in background:
            work.cancel()
        await engine.close()

    def background_work() -> list[Coroutine[Any, Any, None]]:
        work = []
        if metrics.multiprocess:
            work.append(refresh_gauges(metrics))
        if isinstance(state.repository, MirrorRepository):
            work.append(state.repository.keep_in_sync())
        return work

    app = FastAPI(
        title="BERT inference server",
        version=__version__,
        description="Azure ML's /score contract for BERT checkpoints (fill-mask, text classification, NER, "
        "extractive QA, next-sentence prediction), served from a model loaded once.",
        lifespan=lifespan,
        docs_url=None,  # docs_router serves /docs and /redoc with pinned scripts
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.serving = state
    app.state.metrics = metrics
    app.state.admission = admission
    app.state.tracer = tracer
    metrics.track(
        queue_depth=lambda: engine.queued_inputs,
        in_flight=lambda: admission.in_flight,
        bodies_receiving=lambda: admission.pending_bodies,
        models_loaded=lambda: state.repository.loaded_count if state.repository is not None else 0,
        instances=lambda: engine.instances.count if engine.instances is not None else 0,
        threads_per_instance=lambda: engine.instances.threads if engine.instances is not None else 0,
    )
    app.include_router(health_router)
    app.include_router(azure_router)
    app.include_router(huggingface_router)
    app.include_router(repository_router)  # before /v2's catch-all
    app.include_router(statistics_router)  # before /v2/models/{model_name}
    app.include_router(open_inference_router)
    app.include_router(kserve_v1_router)
    app.include_router(tei_router)
    app.include_router(openai_router)
    app.include_router(playground_router)
    app.include_router(docs_router)
    register_exception_handlers(app)
    app.openapi = lambda: _openapi_with_request_schema(app)  # type: ignore[method-assign]
    app.add_api_route("/swagger.json", app.openapi, include_in_schema=False)
    # Innermost of the app's own middleware: the lane's requests pass admission, ids, metrics and logs.
    app.add_middleware(InferenceLane, routes=app.routes, exception_handlers=app.exception_handlers)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, tracer=tracer)
    # Added last, so outermost: a refusal (401, 429) costs no routing, no body, no access-log line.
    app.add_middleware(
        AdmissionMiddleware,
        admission=admission,
        metrics=metrics,
        body_limits=BodyLimits(settings.body_timeout_ms / 1000, settings.min_body_bytes_per_s),
        api_key=settings.api_key,
        routes=app.routes,
    )
    return app


async def refresh_gauges(metrics: ServiceMetrics) -> None:
    while True:
        metrics.refresh()
        await asyncio.sleep(GAUGE_REFRESH_S)


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
