"""The name of the one model this server serves, for the protocols that name models (/v2, /v1):
MODEL_NAME, else the checkpoint's folder or hub name; and /v2's one version."""

from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException

from app.config import Settings
from app.model_source import ModelSource
from app.serving.dependencies import get_serving_state, get_settings
from app.serving.lifespan import ServingState

MODEL_VERSION = "1"


def default_model_name(source: ModelSource) -> str:
    """`bert-base-cased` for the hub's `google-bert/bert-base-cased`; a folder's own name."""
    path = Path(source.model)
    return path.name or path.resolve().name


async def get_model_name(
    settings: Annotated[Settings, Depends(get_settings)],
    serving: Annotated[ServingState, Depends(get_serving_state)],
) -> str:
    return settings.model_name or default_model_name(serving.source)


async def require_known_model(model_name: str, served_name: Annotated[str, Depends(get_model_name)]) -> None:
    if model_name != served_name:
        raise HTTPException(404, f"Unknown model '{model_name}'; this server serves '{served_name}'.")


async def require_known_version(model_name: str, model_version: str) -> None:
    if model_version != MODEL_VERSION:
        raise HTTPException(
            404, f"Model '{model_name}' has no version '{model_version}'; it has version {MODEL_VERSION}."
        )
