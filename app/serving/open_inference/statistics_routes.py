"""Triton's statistics routes: every model's (`/v2/models/stats`), or one's. Registered before
/v2's `/v2/models/{model_name}` route, which would otherwise take `stats` for a model's name."""

from typing import Any

from fastapi import APIRouter, Depends, Request

from app.serving.model_naming import require_known_model, require_known_version
from app.serving.open_inference_core.statistics import model_statistics
from app.serving.protocol_errors import ErrorKeyRoute, error_responses

router = APIRouter(route_class=ErrorKeyRoute, tags=["v2"])


@router.get("/v2/models/stats", responses=error_responses(503))
async def every_models_statistics(request: Request) -> dict[str, Any]:
    repository = request.app.state.serving.serving_repository()
    return model_statistics(request.app.state.metrics.samples(), list(repository.entries))


@router.get(
    "/v2/models/{model_name}/versions/{model_version}/stats",
    dependencies=[Depends(require_known_model), Depends(require_known_version)],
    responses=error_responses(404, 503),
)
@router.get(
    "/v2/models/{model_name}/stats",
    dependencies=[Depends(require_known_model)],
    responses=error_responses(404, 503),
)
async def one_models_statistics(model_name: str, request: Request) -> dict[str, Any]:
    return model_statistics(request.app.state.metrics.samples(), [model_name])
