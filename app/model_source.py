"""Where the checkpoint comes from: --model / MODEL_ID, else AZUREML_MODEL_DIR, else bert-base-cased."""

import logging
from pathlib import Path

from app.config import DEFAULT_MODEL_ID, Settings

logger = logging.getLogger(__name__)


def find_checkpoint_dir(root: Path) -> Path | None:
    """The shallowest folder under root holding config.json (Azure mounts models a few levels down)."""
    if (root / "config.json").is_file():
        return root
    candidates = sorted(root.rglob("config.json"), key=lambda path: (len(path.parts), str(path)))
    return candidates[0].parent if candidates else None


def resolve_model_source(settings: Settings) -> str:
    if settings.model_id:
        return settings.model_id
    if settings.azureml_model_dir is not None:
        found = find_checkpoint_dir(settings.azureml_model_dir)
        if found is not None:
            return str(found)
        logger.warning(
            "AZUREML_MODEL_DIR=%s holds no config.json; falling back to %s",
            settings.azureml_model_dir,
            DEFAULT_MODEL_ID,
        )
    return DEFAULT_MODEL_ID
