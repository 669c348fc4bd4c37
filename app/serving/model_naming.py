"""The models by name, for the protocols that name them (/v2, /v1, OpenAI's `model`, POST
/models/{name}); and /v2's one version per model."""

from typing import Annotated

from fastapi import Depends, HTTPException

from app.repository.repository import ModelRepository
from app.serving.dependencies import get_repository
from app.tasks.checkpoint import ServedModel

MODEL_VERSION = "1"


async def require_known_model(
    model_name: str, repository: Annotated[ModelRepository, Depends(get_repository)]
) -> None:
    repository.entry(model_name)  # 404 naming the served ones


async def get_named_model(
    model_name: str, repository: Annotated[ModelRepository, Depends(get_repository)]
) -> ServedModel:
    """The model the path names, while it is loaded; 503 saying why where it is not."""
    return repository.ready_model(model_name)


async def require_known_version(model_name: str, model_version: str) -> None:
    if model_version != MODEL_VERSION:
        raise HTTPException(
            404, f"Model '{model_name}' has no version '{model_version}'; it has version {MODEL_VERSION}."
        )
