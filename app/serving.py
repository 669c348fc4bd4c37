"""The model's life in the server: load once in the background, warm up, then serve."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.engine import InferenceEngine
from app.errors import ModelLoadError
from app.model import FillMaskModel
from app.model_source import ModelSource

logger = logging.getLogger(__name__)

ModelLoader = Callable[[ModelSource], FillMaskModel]


@dataclass
class ServingState:
    source: ModelSource
    engine: InferenceEngine | None = None
    load_error: str | None = None

    def not_ready_reason(self) -> str:
        if self.load_error is not None:
            return f"The model failed to load: {self.load_error}"
        return f"The model '{self.source}' is still loading; retry shortly."


async def load_and_warm_up(state: ServingState, load_model: ModelLoader) -> None:
    """Load in a worker thread so liveness answers meanwhile; ready only after one prediction ran."""
    started = time.perf_counter()
    try:
        model = await asyncio.to_thread(load_model, state.source)
    except ModelLoadError as exc:
        state.load_error = exc.message
        return
    except Exception as exc:  # any failure must surface, never a silent hang
        logger.exception("Unexpected failure while loading %s", state.source)
        state.load_error = f"{type(exc).__name__}: {exc}"
        return
    engine = InferenceEngine(model)
    await engine.predict([f"Paris is the {model.mask_token} of France."], top_k=1)
    state.engine = engine
    logger.info("Model %s ready in %.1f s", state.source, time.perf_counter() - started)
