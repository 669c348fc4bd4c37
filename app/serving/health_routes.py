"""Health and metrics: Azure's liveness convention on `/`, `/health/live`, `/health/ready`, `/metrics`."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.config import Settings
from app.errors import public_json
from app.serving.dependencies import get_serving_state, get_settings
from app.serving.lifespan import ServingState
from app.serving.metrics import ServiceMetrics
from app.serving.responses import AzureJSONResponse, ErrorResponse

router = APIRouter()


@router.get("/", response_class=PlainTextResponse, tags=["health"])
async def root_liveness(settings: Annotated[Settings, Depends(get_settings)]) -> Response:
    """200 while the process runs: Azure's plain `Healthy`, or with ROOT_LIVENESS=kserve KServe's
    `{"status": "alive"}` (its v1 client's `is_server_live()` reads it)."""
    if settings.root_liveness == "kserve":
        return JSONResponse({"status": "alive"})
    return PlainTextResponse("Healthy")


@router.get("/health/live", tags=["health"])
async def liveness() -> dict[str, str]:
    return {"status": "live"}


@router.get("/health/ready", tags=["health"], responses={503: {"model": ErrorResponse}})
async def readiness(
    serving: Annotated[ServingState, Depends(get_serving_state)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JSONResponse:
    """200 once every model named at start has loaded (and run a warm-up prediction) or failed, and
    the default one is served; 503 before, or if it died. The default model's description comes
    first, as with one model, then its name (`default_model`); `models` lists each with its name,
    state (READY, LOADING, UNLOADING, UNAVAILABLE with a reason), tasks and precision."""
    repository = serving.repository
    if not serving.ready or repository is None or repository.default.served is None:
        body = {"message": serving.not_ready_reason()}
        if repository is not None:
            body["models"] = repository.index()  # type: ignore[assignment]
        return AzureJSONResponse(public_json(body, settings.expose_details), status_code=503)
    described = repository.default.served.describe()
    models = {"default_model": repository.default_name, "models": repository.index()}
    instances = serving.engine.instances
    engine = {"engine": instances.describe()} if instances is not None else {}
    ready: dict[str, Any] = {"status": "ready", **described, **models, **engine}
    return AzureJSONResponse(public_json(ready, settings.expose_details))


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    service_metrics: ServiceMetrics = request.app.state.metrics
    return Response(service_metrics.render(), media_type=service_metrics.content_type)
