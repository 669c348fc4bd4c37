"""Settings: every command-line flag has an environment twin."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_ID = "bert-base-cased"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", protected_namespaces=())

    model_id: str | None = Field(
        default=None,
        description="Hugging Face hub id or local folder of the checkpoint. "
        "Unset: the folder holding config.json under AZUREML_MODEL_DIR, else bert-base-cased.",
    )
    azureml_model_dir: Path | None = Field(
        default=None, description="Set by Azure ML to where the registered model is mounted."
    )
    host: str = Field(default="0.0.0.0", description="Address to listen on.")
    port: int = Field(default=5001, ge=1, le=65535, description="Port (5001, like Azure's inference server).")
    max_top_k: int = Field(default=100, ge=1, description="Largest `top_k` a request may ask for.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
