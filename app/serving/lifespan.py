"""The model's life in the server: load once in the background, warm up, then serve."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.engine.engine import BatchLimits, InferenceEngine
from app.engine.predict import predict
from app.errors import ModelLoadError
from app.model_source import ModelSource
from app.tasks.checkpoint import ServedModel, load_configured_model
from app.tasks.options import task_options
from app.tasks.registry import TASKS

logger = logging.getLogger(__name__)

ModelLoader = Callable[[ModelSource], ServedModel]
EngineFactory = Callable[[ServedModel], InferenceEngine]


def model_loader_for(settings: Settings) -> ModelLoader:
    return lambda source: load_configured_model(settings, source)


def batch_limits_for(settings: Settings) -> BatchLimits:
    return BatchLimits(
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queued_inputs=settings.max_queued_inputs,
    )


@dataclass
class ServingState:
    source: ModelSource
    engine: InferenceEngine | None = None
    model: ServedModel | None = None
    load_error: str | None = None

    def not_ready_reason(self) -> str:
        if self.load_error is not None:
            return f"The model failed to load: {self.load_error}"
        if self.engine is not None and self.engine.failure is not None:
            return f"The inference worker died: {self.engine.failure!r}"
        return f"The model '{self.source}' is still loading; retry shortly."

    @property
    def ready(self) -> bool:
        return self.engine is not None and self.engine.failure is None


async def warm_up(engine: InferenceEngine, model: ServedModel) -> None:
    """Run the batch shapes traffic will bring, so the first requests pay no one-time costs."""
    batch = min(engine.limits.max_batch_size, engine.limits.max_queued_inputs, 8)
    for name, task in model.tasks.items():
        examples = TASKS[name].warm_up(getattr(task, "mask_token", "[MASK]"))
        options = task_options(name, top_k=5, with_scores=True)  # the scored paths too
        await predict(engine, task, examples[:1], options)
        await predict(engine, task, examples[:1] * batch, options)
        await predict(engine, task, examples[1:], options)


async def load_and_warm_up(state: ServingState, load_model: ModelLoader, make_engine: EngineFactory) -> float:
    """Load in a worker thread so liveness answers meanwhile; ready only after warm-up ran.

    Returns the seconds it took; on failure, sets `state.load_error` instead of raising.
    """
    started = time.perf_counter()
    engine: InferenceEngine | None = None
    try:
        model = await asyncio.to_thread(load_model, state.source)
        engine = make_engine(model)
        engine.start()
        await warm_up(engine, model)
    except ModelLoadError as exc:
        state.load_error = exc.message
    except Exception as exc:  # any failure must surface, never a silent hang
        logger.exception("Unexpected failure while loading %s", state.source)
        state.load_error = f"{type(exc).__name__}: {exc}"
    if state.load_error is not None:
        if engine is not None:
            await engine.close()
        return time.perf_counter() - started
    state.model = model
    state.engine = engine
    seconds = time.perf_counter() - started
    logger.info("Model %s ready in %.1f s", state.source, seconds)
    return seconds
