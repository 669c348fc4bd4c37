"""Loading and unloading models at run time (Triton's repository extension, over REST and gRPC): off
unless MODEL_CONTROL=explicit, and never with a configuration or files the server would not honour."""

from collections.abc import Iterable

from app.config import Settings
from app.errors import ModelControlDisabledError


def load_refusal(parameters: Iterable[str]) -> str | None:
    """Why a load with these parameters is refused (REST's and gRPC's), or None."""
    brought = [name for name in parameters if name == "config" or name.startswith("file:")]
    if not brought:
        return None
    return (
        f"This server does not take a model's configuration or files with a load ({', '.join(brought)}): "
        "it loads the model by name from its own folder (MODELS, MODEL_REPOSITORY). Load it without them."
    )


def check_model_control(settings: Settings) -> None:
    if settings.model_control != "explicit":
        raise ModelControlDisabledError(
            "Loading and unloading models is off (MODEL_CONTROL=none); start the server with "
            "MODEL_CONTROL=explicit and API_KEY to allow it."
        )
