"""The served models as `GET /v1/models` lists them, a path two protocols share: KServe's v1
(`models`; a model's `name` and `ready`) and OpenAI's (`object`, `data`; a model's `id`, `created`,
`owned_by`). One body carries both protocols' keys; each client reads its own and ignores the rest."""

import time
from typing import Any

# OpenAI's `created` for a model: here, when this server process started.
STARTED = int(time.time())
OWNER = "bert-serving"


def model_list(names: list[str]) -> dict[str, Any]:
    return {"models": names, "object": "list", "data": [_openai_model(name) for name in names]}


def ready_model(name: str) -> dict[str, Any]:
    """A model that is ready, for KServe's `is_model_ready` and OpenAI's `models.retrieve`."""
    return {"name": name, "ready": True, **_openai_model(name)}


def _openai_model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": STARTED, "owned_by": OWNER}
